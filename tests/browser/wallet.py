"""A test wallet for the browser: an injected EIP-1193 provider whose requests Python answers.

``window.ethereum.request`` goes to ``TestWallet.handle`` (Playwright's expose_function), which
signs with a dev key through eth-account (personal_sign, eth_signTypedData_v4 and transactions:
real signatures, as a wallet extension makes them) and forwards every other call to anvil.
A test can put the wallet on another chain, make it reject a method (EIP-1193 code 4001), or
switch its account.
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3

PROVIDER_JS = """
(() => {
  const call = async (method, params) => {
    const out = JSON.parse(await window.__lpWallet(method, JSON.stringify(params || [])));
    if (out.error) {
      const err = new Error(out.error.message);
      err.code = out.error.code;
      throw err;
    }
    return out.result;
  };
  window.ethereum = {
    isLabelproofTestWallet: true,
    request: ({ method, params }) => call(method, params),
  };
})();
"""


class TestWallet:
    __test__ = False  # not a pytest class

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id: int | None = None  # None: the node's
        self.reject: set[str] = set()
        self.calls: list[str] = []
        self.connected = False

    def handle(self, method: str, params_json: str) -> str:
        self.calls.append(method)
        params: list[Any] = json.loads(params_json)
        if method in self.reject:
            return json.dumps({"error": {"code": 4001, "message": "User rejected the request."}})
        try:
            result = self._answer(method, params)
        except Exception as exc:  # the page sees a wallet error, as from a real wallet
            return json.dumps({"error": {"code": -32603, "message": str(exc)}})
        return json.dumps({"result": result})

    def _answer(self, method: str, params: list[Any]) -> Any:
        me = self.account
        if method == "eth_requestAccounts":
            self.connected = True
            return [me.address]
        if method == "eth_accounts":  # empty until the site asked, as in a wallet extension
            return [me.address] if self.connected else []
        if method == "eth_chainId":
            return hex(self.chain_id if self.chain_id is not None else self.w3.eth.chain_id)
        if method == "personal_sign":
            message, address = params
            assert Web3.to_checksum_address(address) == me.address, address
            signed = me.sign_message(encode_defunct(hexstr=message))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_signTypedData_v4":
            address, data = params
            assert Web3.to_checksum_address(address) == me.address, address
            signed = me.sign_message(encode_typed_data(full_message=json.loads(data)))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_sendTransaction":
            (tx,) = params
            assert Web3.to_checksum_address(tx["from"]) == me.address, tx["from"]
            full: dict[str, Any] = {
                "from": me.address,
                "to": Web3.to_checksum_address(tx["to"]),
                "data": tx.get("data", "0x"),
                "value": int(tx.get("value", "0x0"), 16),
                "nonce": self.w3.eth.get_transaction_count(me.address, "pending"),
                "chainId": self.w3.eth.chain_id,
                "gasPrice": self.w3.eth.gas_price,
            }
            full["gas"] = int(self.w3.eth.estimate_gas(full) * 1.2) + 10_000  # type: ignore[arg-type]
            signed = me.sign_transaction(full)
            return "0x" + bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction)).hex()
        answer = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in answer:
            raise RuntimeError(answer["error"].get("message", str(answer["error"])))
        return answer["result"]

    @staticmethod
    def create(w3: Web3) -> TestWallet:
        return TestWallet(w3, Account.create())
