// The annotators' web app: find a task, label it, commit without gas, reveal, see the result,
// claim (with the wallet or through the relayer) and the public task page. One page, hash
// routes: #/ tasks, #/task/<id>, #/earnings, #/public/<id>. Talks to its own server only
// (labelproof/app/server.py: chain reads, and the oracle and relayer behind /oracle, /relayer)
// and to the injected EIP-1193 wallet for accounts, signatures and transactions.
import { Interface, formatUnits, getAddress } from "ethers";
import * as C from "./commitments.mjs";

const ESCROW_ABI = [
  "function claim(uint256 taskId, address account, uint256 amount, bytes32[] proof)",
  "function claimMany(address account, (uint256 taskId, uint256 amount, bytes32[] proof)[] claims)",
];
const escrowIface = new Interface(ESCROW_ABI);

const state = { gen: 0, config: null, account: null, seeds: {}, task: null, spec: null, pos: 0 };
const $ = (sel) => document.querySelector(sel);
const h = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
};

// ---------------------------------------------------------------------------------- messages

function say(text, kind = "info") {
  const box = $("#message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}
const fail = (text) => say(text, "error");

class UserError extends Error {}

async function guard(fn) {
  try {
    await fn();
  } catch (exc) {
    fail(explain(exc));
  }
}

function explain(exc) {
  if (exc instanceof UserError) return exc.message;
  const code = exc && (exc.code ?? exc?.info?.error?.code);
  if (code === 4001 || code === "ACTION_REJECTED")
    return "You rejected the request in your wallet: nothing was sent and nothing is lost. Try again when ready.";
  return `Something went wrong: ${exc && exc.message ? exc.message : exc}`;
}

// --------------------------------------------------------------------------------- the server

async function api(path, options = {}) {
  let r;
  try {
    r = await fetch(path, {
      ...options,
      headers: { "content-type": "application/json" },
    });
  } catch (exc) {
    throw new UserError(`The app's server is not reachable (${exc.message}).`);
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  if (!r.ok) {
    const msg = body && body.error ? body.error : `HTTP ${r.status}`;
    const err = new UserError(msg);
    err.status = r.status;
    throw err;
  }
  return body;
}

// ---------------------------------------------------------------------------------- the wallet

function wallet() {
  if (!window.ethereum)
    throw new UserError("No wallet found: install a browser wallet (MetaMask or the like) and reload.");
  return window.ethereum;
}

async function request(method, params = []) {
  return wallet().request({ method, params });
}

async function connect() {
  const accounts = await request("eth_requestAccounts");
  if (!accounts || !accounts.length) throw new UserError("The wallet gave no account.");
  state.account = getAddress(accounts[0]);
  await checkChain();
  renderAccount();
  return state.account;
}

async function checkChain() {
  const id = Number(BigInt(await request("eth_chainId")));
  if (id !== state.config.chain_id) {
    throw new UserError(
      `Your wallet is on chain ${id}, but this app's tasks are on chain ${state.config.chain_id}: ` +
        `switch your wallet to chain ${state.config.chain_id} and try again.`,
    );
  }
}

async function ensureAccount() {
  if (!state.account) await connect();
  await checkChain();
  return state.account;
}

function renderAccount() {
  $("#account").textContent = state.account ? `connected: ${state.account}` : "not connected";
  $("#connect").hidden = !!state.account;
}

async function waitReceipt(hash) {
  for (let i = 0; i < 600; i++) {
    const receipt = await request("eth_getTransactionReceipt", [hash]);
    if (receipt) {
      if (receipt.status !== "0x1") throw new UserError(`Transaction ${hash} reverted.`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UserError(`Transaction ${hash} is not mined yet: check your wallet.`);
}

// ------------------------------------------------------------------------------ time and money

function when(ts, now) {
  if (!ts) return "—";
  const local = new Date(ts * 1000).toLocaleString();
  return `${local} (${words(ts - now)})`;
}

function words(delta) {
  const abs = Math.abs(delta);
  const units = [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
  ];
  let text = `${abs} s`;
  for (const [size, name] of units) {
    if (abs >= size) {
      text = `${Math.floor(abs / size)} ${name}`;
      const rest = Math.floor((abs % size) / (size === 86400 ? 3600 : 60));
      if (size > 60 && rest) text += ` ${rest} ${size === 86400 ? "h" : "min"}`;
      break;
    }
  }
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

function duration(seconds) {
  return words(seconds).replace(/^in /, "");
}

const money = (amount, task) =>
  `${formatUnits(BigInt(amount ?? 0), task.decimals ?? 18)} ${task.symbol ?? ""}`.trim();

// ------------------------------------------------------------------------------ browser storage

function key(kind, taskId, account = state.account) {
  const c = state.config;
  return `labelproof:${kind}:${c.chain_id}:${c.escrow.toLowerCase()}:${taskId}:${(account || "").toLowerCase()}`;
}
const load = (k, fallback) => {
  try {
    const v = localStorage.getItem(k);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
};
const store = (k, v) => localStorage.setItem(k, JSON.stringify(v));

// --------------------------------------------------------------------------------------- pages

// Routes can overlap (a click, then a link, while the first still loads): only the latest one
// may draw; an older one draws into a detached element.
function mainOf(gen) {
  return gen === state.gen ? $("#main") : document.createElement("main");
}

async function route() {
  say("");
  const gen = ++state.gen;
  const hash = location.hash || "#/";
  $("#main").replaceChildren(h("p", {}, "loading…"));
  await guard(async () => {
    let m;
    if ((m = hash.match(/^#\/task\/(\d+)/))) await taskPage(Number(m[1]), gen);
    else if ((m = hash.match(/^#\/public\/(\d+)/))) await publicPage(Number(m[1]), gen);
    else if (hash.startsWith("#/earnings")) await earningsPage(gen);
    else await tasksPage(gen);
  });
}

async function tasksPage(gen) {
  const { tasks } = await api("/api/tasks");
  const rows = tasks.map((t) => {
    const now = t.now;
    return h(
      "tr",
      { class: "task-row", "data-task": t.task_id },
      h("td", {}, h("a", { href: `#/task/${t.task_id}` }, `#${t.task_id} ${t.title ?? "(no spec yet)"}`)),
      h("td", {}, t.phase),
      h("td", {}, t.budget && t.decimals !== undefined ? money(t.budget, t) : "?"),
      h("td", {}, t.labels ? t.labels.join(", ") : "?"),
      h("td", {}, t.item_count ?? "?"),
      h("td", {}, t.deadlines ? `annotate until ${when(t.deadlines.annotation, now)}` : ""),
      h("td", {}, t.deadlines ? `reveal until ${when(t.deadlines.reveal, now)}` : ""),
      h(
        "td",
        {},
        t.periods
          ? `challenge ${duration(t.periods.challenge)}, claims ${duration(t.periods.claim)}`
          : "",
      ),
      h("td", {}, h("a", { href: `#/public/${t.task_id}` }, "public page")),
    );
  });
  mainOf(gen).replaceChildren(
    h("h2", {}, "Tasks"),
    h(
      "table",
      { id: "tasks" },
      h(
        "tr",
        {},
        ["task", "state", "budget", "labels", "items", "annotation", "reveal", "protections", ""].map(
          (x) => h("th", {}, x),
        ),
      ),
      rows,
    ),
    tasks.length ? null : h("p", {}, "No task yet."),
  );
}

// -- the annotator's page of one task

async function taskPage(taskId, gen) {
  const task = await api(`/api/tasks/${taskId}`);
  if (gen !== state.gen) return;
  state.task = task;
  state.spec = task.spec;
  const now = task.now;
  const d = task.deadlines;
  const info = h(
    "section",
    { id: "task-info" },
    h("h2", {}, `Task #${taskId}: ${task.title ?? "(no spec registered yet)"}`),
    h(
      "dl",
      {},
      h("dt", {}, "state"),
      h("dd", { id: "phase" }, task.phase),
      h("dt", {}, "budget"),
      h("dd", {}, money(task.budget, task)),
      h("dt", {}, "token"),
      h("dd", {}, `${task.symbol} (${task.token})`),
      h("dt", {}, "labels"),
      h("dd", {}, task.spec ? task.spec.labels.join(", ") : "?"),
      h("dt", {}, "items"),
      h("dd", {}, task.spec ? task.spec.items.length : "?"),
      h("dt", {}, "annotation closes"),
      h("dd", { id: "annotation-deadline" }, when(d.annotation, now)),
      h("dt", {}, "reveal closes"),
      h("dd", { id: "reveal-deadline" }, when(d.reveal, now)),
      h("dt", {}, "claims close"),
      h("dd", {}, d.claim ? when(d.claim, now) : `${duration(task.periods.claim)} after the payout is final`),
      h("dt", {}, "challenge period"),
      h("dd", {}, `${duration(task.periods.challenge)}: anyone can dispute a payout before it is final`),
      h("dt", {}, "oracle must answer within"),
      h("dd", {}, `${duration(task.periods.oracle_timeout)} after the reveal, or the requester is refunded`),
    ),
    h("p", {}, h("a", { href: `#/public/${taskId}` }, "public page of this task")),
  );
  const main = mainOf(gen);
  main.replaceChildren(info);
  if (!task.spec) {
    main.append(h("p", {}, "The requester has not registered this task's spec with the oracle yet."));
    return;
  }
  if (!state.account) {
    main.append(h("p", { id: "need-wallet" }, "Connect your wallet to label this task."));
    return;
  }
  await checkChain();
  if (gen !== state.gen) return;
  main.append(
    h("section", { id: "reminder", hidden: true }),
    labeler(taskId),
    h(
      "section",
      { id: "actions" },
      h("h3", {}, "Commit, reveal"),
      h("button", { id: "commit", onclick: () => guard(() => commit(taskId)) }, "Commit labels (no gas)"),
      h("button", { id: "reveal", onclick: () => guard(() => reveal(taskId)) }, "Reveal to the oracle"),
      h("a", { id: "backup", href: "#", onclick: (e) => { e.preventDefault(); backup(taskId); } }, "Download backup"),
      h("label", {}, " Restore backup: ", h("input", { id: "restore", type: "file", accept: ".json", onchange: (e) => guard(() => restore(taskId, e.target.files[0])) })),
      h("div", { id: "confirm", hidden: true }),
      h("p", { id: "commit-status" }, commitStatus(taskId)),
      h("p", { id: "receipt" }, revealStatus(taskId)),
    ),
    h("section", { id: "result" }),
    h("section", { id: "claim" }),
  );
  renderItem();
  remind(taskId);
  await showResult(taskId).catch((exc) => ($("#result").textContent = explain(exc)));
}

function commitStatus(taskId) {
  const c = load(key("commit", taskId), null);
  if (!c) return "Not committed yet.";
  return `Committed version ${c.version}: ${c.count} labels, root ${c.root} (${c.status}${c.tx ? `, tx ${c.tx}` : ""}).`;
}

function revealStatus(taskId) {
  const r = load(key("revealed", taskId), null);
  return r ? `Revealed: oracle receipt ${r.receipt} (${r.item_count} labels).` : "Not revealed yet.";
}

function remind(taskId) {
  const t = state.task;
  const c = load(key("commit", taskId), null);
  const r = load(key("revealed", taskId), null);
  const box = $("#reminder");
  if (c && !r && t.status === "funded" && t.now <= t.deadlines.reveal) {
    box.hidden = false;
    box.className = "reminder";
    box.textContent =
      `Reminder: reveal your labels before ${when(t.deadlines.reveal, t.now)}, ` +
      "or they are not paid. One click: “Reveal to the oracle”.";
  } else box.hidden = true;
}

// -- labelling

function labeler(taskId) {
  const labels = load(key("labels", taskId), {});
  state.labels = labels;
  state.pos = Math.min(load(key("pos", taskId), 0), state.spec.items.length - 1);
  const buttons = state.spec.labels.map((label, i) =>
    h("button", { class: "label-btn", "data-label": label, onclick: () => choose(taskId, label) }, `${i + 1} ${label}`),
  );
  const section = h(
    "section",
    { id: "labeler" },
    h("h3", {}, "Label"),
    h("p", { id: "progress" }),
    h("div", { id: "item" }),
    h("div", { id: "labels" }, buttons),
    h(
      "p",
      { class: "hint" },
      h("button", { id: "prev", onclick: () => move(taskId, -1) }, "← previous"),
      h("button", { id: "next", onclick: () => move(taskId, 1) }, "next →"),
      " keys: 1–9 choose a label and go on, ← → move",
    ),
  );
  document.onkeydown = (e) => {
    if (!$("#labeler") || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowRight") move(taskId, 1);
    else if (e.key === "ArrowLeft") move(taskId, -1);
    else if (/^[1-9]$/.test(e.key)) {
      const label = state.spec.labels[Number(e.key) - 1];
      if (label !== undefined) choose(taskId, label);
    }
  };
  return section;
}

function renderItem() {
  const items = state.spec.items;
  const item = items[state.pos];
  const done = items.filter((i) => state.labels[i] !== undefined).length;
  $("#progress").textContent = `${done} of ${items.length} labelled · item ${state.pos + 1}: ${item}`;
  const box = $("#item");
  const isImage = /^(https?:|data:image\/)/.test(item) && /(\.(png|jpe?g|gif|svg|webp)(\?|$)|^data:image\/)/i.test(item);
  box.replaceChildren(isImage ? h("img", { src: item, alt: item, class: "item-image" }) : h("blockquote", { class: "item-text" }, item));
  for (const b of document.querySelectorAll(".label-btn"))
    b.classList.toggle("chosen", state.labels[item] === b.dataset.label);
}

function choose(taskId, label) {
  const item = state.spec.items[state.pos];
  state.labels[item] = label;
  store(key("labels", taskId), state.labels);
  move(taskId, 1);
}

function move(taskId, step) {
  state.pos = Math.max(0, Math.min(state.spec.items.length - 1, state.pos + step));
  store(key("pos", taskId), state.pos);
  renderItem();
}

// -- commit

async function seed(taskId) {
  const k = `${taskId}:${state.account}`;
  if (!state.seeds[k]) {
    const c = state.config;
    const text = C.saltMessage(c.chain_id, c.registry, c.escrow, taskId, state.account);
    const hex = "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
    const signature = await request("personal_sign", [hex, state.account]);
    state.seeds[k] = C.seedFromSignature(signature); // kept in memory only
  }
  return state.seeds[k];
}

function saltsFor(seedHex, labels) {
  return Object.fromEntries(Object.keys(labels).map((item) => [item, C.deriveSalt(seedHex, item)]));
}

function askFirst(question, details) {
  say("");
  return new Promise((resolve) => {
    const box = $("#confirm");
    box.hidden = false;
    box.replaceChildren(
      h("p", { class: "question" }, question),
      details,
      h("button", { id: "confirm-yes", onclick: () => { box.hidden = true; resolve(true); } }, "Yes, go on"),
      h("button", { id: "confirm-no", onclick: () => { box.hidden = true; resolve(false); } }, "No, keep what I have"),
    );
  });
}

function diff(before, after) {
  const changes = [];
  for (const item of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[item] === after[item]) continue;
    changes.push(
      before[item] === undefined
        ? `added ${item}: ${after[item]}`
        : after[item] === undefined
          ? `removed ${item} (was ${before[item]})`
          : `${item}: ${before[item]} → ${after[item]}`,
    );
  }
  return changes;
}

async function commit(taskId) {
  await ensureAccount();
  const t = await api(`/api/tasks/${taskId}`);
  if (t.status !== "funded" || t.now > t.deadlines.annotation)
    throw new UserError(`Task ${taskId} takes no commitments now: annotation closed ${when(t.deadlines.annotation, t.now)}.`);
  const items = new Set(state.spec.items);
  const labels = Object.fromEntries(
    Object.entries(state.labels).filter(([item, label]) => items.has(item) && state.spec.labels.includes(label)),
  );
  const count = Object.keys(labels).length;
  if (!count) throw new UserError("Label at least one item before committing.");
  const me = await api(`/api/tasks/${taskId}/annotators/${state.account}`);
  const previous = load(key("commit", taskId), null);
  if (me.version > 0) {
    const changes = previous ? diff(previous.labels, labels) : null;
    if (previous && !changes.length && previous.status === "attested")
      throw new UserError(`These labels are already committed (version ${previous.version}): nothing to do.`);
    const details = h(
      "ul",
      { id: "diff" },
      changes ? changes.map((c) => h("li", {}, c)) : h("li", {}, "this browser has no copy of your earlier labels"),
    );
    const ok = await askFirst(
      `You already committed version ${me.version} for this task. Committing again replaces it (only the last commitment is paid). What changes:`,
      details,
    );
    if (!ok) return say("Nothing committed: your earlier commitment stands.");
  } else if (count < state.spec.items.length) {
    const ok = await askFirst(
      `You labelled ${count} of ${state.spec.items.length} items. Commit these ${count} now?`,
      h("p", {}, "Unlabelled items earn nothing."),
    );
    if (!ok) return say("Nothing committed.");
  }
  say("Asking your wallet for the signature that derives your salts…");
  const c = state.config;
  const salts = saltsFor(await seed(taskId), labels);
  const { root } = C.commitment(c.chain_id, c.escrow, taskId, state.account, labels, salts);
  const version = me.version + 1;
  say("Asking your wallet to sign the commitment (EIP-712, no gas)…");
  const typed = C.attestationTypedDataJson(c.chain_id, c.registry, taskId, state.account, root, count, version);
  const signature = await request("eth_signTypedData_v4", [state.account, typed]);
  say("Handing the signed commitment to the relayer…");
  let answer;
  try {
    answer = await api("/relayer/attestations", {
      method: "POST",
      body: JSON.stringify({ task_id: taskId, annotator: state.account, root, item_count: count, version, signature }),
    });
  } catch (exc) {
    throw new UserError(`The relayer did not take the commitment: ${exc.message}. Your labels are kept in this browser; try again.`);
  }
  const record = { version, root, count, labels, status: "relayed", relay_hash: answer.hash, tx: null };
  store(key("commit", taskId), record);
  say("Waiting for the relayer's batch to be mined…");
  for (let i = 0; i < 240; i++) {
    const s = await api(`/relayer/attestations/${answer.hash}`);
    if (s.status === "confirmed") {
      record.status = "attested";
      record.tx = s.tx_hash;
      store(key("commit", taskId), record);
      $("#commit-status").textContent = commitStatus(taskId);
      remind(taskId);
      return say(`Committed on chain: ${count} labels, version ${version}, root ${root}. Download a backup of your labels.`, "ok");
    }
    if (s.status === "failed") {
      store(key("commit", taskId), previous);
      throw new UserError(`The relayer could not put the commitment on chain: ${s.error}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UserError("The relayer accepted the commitment but it is not on chain yet: check again later.");
}

// -- backup

function backup(taskId) {
  const c = state.config;
  const doc = {
    format: "labelproof-app-backup/1",
    chain_id: c.chain_id,
    escrow: c.escrow,
    registry: c.registry,
    task_id: taskId,
    annotator: state.account,
    labels: state.labels,
    committed: load(key("commit", taskId), null),
    salts: "derived from your wallet's signature (labelproof salt seed v1): not stored",
  };
  const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
  const a = h("a", { href: URL.createObjectURL(blob), download: `labelproof-task-${taskId}-${state.account}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  say("Backup downloaded: it holds your labels; your salts come back from your wallet.", "ok");
}

async function restore(taskId, file) {
  if (!file) return;
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    throw new UserError(`${file.name} is not a labelproof backup (not JSON).`);
  }
  const c = state.config;
  if (doc.format !== "labelproof-app-backup/1") throw new UserError(`${file.name} is not a labelproof backup.`);
  if (Number(doc.task_id) !== taskId || Number(doc.chain_id) !== c.chain_id || doc.escrow.toLowerCase() !== c.escrow.toLowerCase())
    throw new UserError(`${file.name} is the backup of task ${doc.task_id} on chain ${doc.chain_id}, not of this task.`);
  if (getAddress(doc.annotator) !== state.account)
    throw new UserError(`${file.name} belongs to ${doc.annotator}, not to the connected ${state.account}.`);
  const items = new Set(state.spec.items);
  const outside = Object.keys(doc.labels || {}).filter((i) => !items.has(i) || !state.spec.labels.includes(doc.labels[i]));
  const kept = Object.fromEntries(Object.entries(doc.labels || {}).filter(([i]) => !outside.includes(i)));
  state.labels = { ...kept, ...state.labels };
  store(key("labels", taskId), state.labels);
  if (doc.committed && !load(key("commit", taskId), null)) store(key("commit", taskId), doc.committed);
  renderItem();
  $("#commit-status").textContent = commitStatus(taskId);
  remind(taskId);
  if (outside.length)
    fail(`Restored ${Object.keys(kept).length} labels; ignored ${outside.length} not in task ${taskId} (${outside.slice(0, 3).join(", ")}): items and labels outside the task cannot be labelled.`);
  else say(`Restored ${Object.keys(kept).length} labels from ${file.name}.`, "ok");
}

// -- reveal

async function reveal(taskId) {
  await ensureAccount();
  let t;
  try {
    t = await api(`/api/tasks/${taskId}`);
  } catch (exc) {
    throw new UserError(`${exc.message}. Nothing is lost: your labels stay in this browser; reveal again in a moment.`);
  }
  const committed = load(key("commit", taskId), null);
  if (!committed)
    throw new UserError("This browser has no record of your commitment: restore your backup file first (your salts come back from your wallet).");
  if (t.status === "funded" && t.now > t.deadlines.reveal)
    throw new UserError(`Too late: the reveal window of task ${taskId} closed ${when(t.deadlines.reveal, t.now)}. Your labels are kept, but the oracle no longer takes them.`);
  const c = state.config;
  const salts = saltsFor(await seed(taskId), committed.labels);
  const body = {
    annotator: state.account,
    labels: Object.keys(committed.labels)
      .sort()
      .map((item) => ({ item, label: committed.labels[item], salt: salts[item] })),
  };
  const { root } = C.commitment(c.chain_id, c.escrow, taskId, state.account, committed.labels, salts);
  if (root !== committed.root)
    throw new UserError(`These labels and your wallet's salts give root ${root}, not the committed ${committed.root}: is this the wallet you committed with?`);
  say("Revealing your labels to the oracle…");
  let receipt;
  try {
    receipt = await api(`/oracle/tasks/${taskId}/reveals`, { method: "POST", body: JSON.stringify(body) });
  } catch (exc) {
    throw new UserError(`The oracle did not take the reveal: ${exc.message}. Nothing is lost: try again before ${when(t.deadlines.reveal, t.now)}.`);
  }
  store(key("revealed", taskId), receipt);
  $("#receipt").textContent = revealStatus(taskId);
  remind(taskId);
  say(`Revealed: the oracle's receipt is ${receipt.receipt}.`, "ok");
}

// -- result and claim

async function showResult(taskId) {
  const box = $("#result");
  let results;
  try {
    results = await api(`/oracle/tasks/${taskId}/results`);
  } catch (exc) {
    box.replaceChildren(h("h3", {}, "Result"), h("p", {}, exc.status === 404 ? "Not scored yet." : explain(exc)));
    return;
  }
  const mine = results.results.find((r) => r.account.toLowerCase() === state.account.toLowerCase());
  const t = state.task;
  box.replaceChildren(
    h("h3", {}, "Result"),
    mine
      ? h(
          "dl",
          { id: "my-result" },
          h("dt", {}, "quality"),
          h("dd", {}, mine.quality === null ? "—" : mine.quality.toFixed(3)),
          h("dt", {}, "minimum quality"),
          h("dd", {}, results.threshold.toFixed(3)),
          h("dt", {}, "payout"),
          h("dd", {}, money(mine.payout, t)),
          h("dt", {}, "rank"),
          h("dd", {}, mine.rank ? `${mine.rank} of ${results.annotators}` : "—"),
          h("dt", {}, "why"),
          h("dd", {}, mine.why),
        )
      : h("p", {}, "You are not among the scored annotators of this task."),
  );
  if (t.status === "final") await claimBox(taskId);
  else $("#claim").replaceChildren(h("h3", {}, "Claim"), h("p", {}, `Claims open when the payout is final (now: ${t.phase}).`));
}

async function claimBox(taskId) {
  $("#claim").replaceChildren(
    h("h3", {}, "Claim"),
    h("button", { id: "claim-wallet", onclick: () => guard(() => claimWithWallet([taskId])) }, "Claim with my wallet (gas)"),
    h("button", { id: "claim-sponsored", onclick: () => guard(() => claimSponsored(taskId)) }, "Claim without gas (sponsored)"),
    h("p", { id: "claim-status" }),
  );
}

async function claimable(taskIds) {
  const { tasks } = await api(`/api/accounts/${state.account}/earnings`);
  const rows = tasks.filter((t) => taskIds.includes(t.task_id));
  for (const id of taskIds) {
    const r = rows.find((x) => x.task_id === id);
    if (!r) throw new UserError(`Task ${id}: you have no payout to claim.`);
    if (r.state === "claimed")
      throw new UserError(`Task ${id}: you already claimed ${r.amount_units ?? ""} ${r.symbol}; nothing was sent.`);
    if (r.state !== "claimable") throw new UserError(`Task ${id}: nothing to claim (${r.state}).`);
  }
  return rows;
}

async function claimWithWallet(taskIds) {
  const me = await ensureAccount();
  const rows = await claimable(taskIds);
  const data =
    rows.length === 1
      ? escrowIface.encodeFunctionData("claim", [rows[0].task_id, me, rows[0].amount, rows[0].proof])
      : escrowIface.encodeFunctionData("claimMany", [me, rows.map((r) => [r.task_id, r.amount, r.proof])]);
  say("Asking your wallet to send the claim…");
  const hash = await request("eth_sendTransaction", [{ from: me, to: state.config.escrow, data }]);
  await waitReceipt(hash);
  if (location.hash.startsWith("#/earnings")) await earningsPage(state.gen); // now claimed
  const text = rows.map((r) => `task ${r.task_id}: ${r.amount_units} ${r.symbol}`).join(", ");
  say(`Claimed ${text} in ${hash}.`, "ok");
  if ($("#claim-status")) $("#claim-status").textContent = `claimed in ${hash}`;
}

async function claimSponsored(taskId) {
  const me = await ensureAccount();
  const [r] = await claimable([taskId]);
  say("The relayer is submitting your claim (it pays the gas)…");
  let done;
  try {
    done = await api("/relayer/claims", {
      method: "POST",
      body: JSON.stringify({ task_id: taskId, account: me, amount: r.amount, proof: r.proof }),
    });
  } catch (exc) {
    throw new UserError(`The sponsored claim failed: ${exc.message}. Nothing is lost: you can claim with your wallet.`);
  }
  say(`Claimed ${r.amount_units} ${r.symbol} for task ${taskId}, gas paid by ${done.sponsor}, in ${done.tx_hash}.`, "ok");
  if ($("#claim-status")) $("#claim-status").textContent = `claimed in ${done.tx_hash} (sponsored)`;
}

// -- earnings

async function earningsPage(gen) {
  if (!state.account) {
    mainOf(gen).replaceChildren(h("p", { id: "need-wallet" }, "Connect your wallet to see your earnings."));
    return;
  }
  const { tasks } = await api(`/api/accounts/${state.account}/earnings`);
  const open = tasks.filter((t) => t.state === "claimable").map((t) => t.task_id);
  mainOf(gen).replaceChildren(
    h("h2", {}, "Earnings"),
    h(
      "table",
      { id: "earnings" },
      h("tr", {}, ["task", "state", "amount", "claim until", ""].map((x) => h("th", {}, x))),
      tasks.map((t) =>
        h(
          "tr",
          { "data-task": t.task_id },
          h("td", {}, h("a", { href: `#/task/${t.task_id}` }, `#${t.task_id}`)),
          h("td", {}, `${t.state} (${t.phase})`),
          h("td", {}, t.amount_units ? `${t.amount_units} ${t.symbol}` : "—"),
          h("td", {}, t.claim_deadline ? new Date(t.claim_deadline * 1000).toLocaleString() : "—"),
          h("td", {}, h("a", { href: `#/public/${t.task_id}` }, "public page")),
        ),
      ),
    ),
    open.length
      ? h("button", { id: "claim-all", onclick: () => guard(() => claimWithWallet(open)) }, `Claim all ${open.length} in one transaction`)
      : h("p", {}, "Nothing to claim right now."),
  );
}

// -- the public page (no wallet)

async function publicPage(taskId, gen) {
  const t = await api(`/api/tasks/${taskId}`);
  const now = t.now;
  const d = t.deadlines;
  const main = mainOf(gen);
  main.replaceChildren(
    h("h2", {}, `Task #${taskId}: ${t.title ?? ""} (public)`),
    h(
      "dl",
      { id: "public-status" },
      h("dt", {}, "state"),
      h("dd", {}, t.phase),
      h("dt", {}, "annotation closes"),
      h("dd", {}, when(d.annotation, now)),
      h("dt", {}, "reveal closes"),
      h("dd", {}, when(d.reveal, now)),
      h("dt", {}, "oracle deadline"),
      h("dd", {}, when(d.oracle, now)),
      h("dt", {}, "claims close"),
      h("dd", {}, d.claim ? when(d.claim, now) : "—"),
      h("dt", {}, "annotators attested"),
      h("dd", {}, t.attestations),
    ),
    h("h3", {}, "Money"),
    h(
      "table",
      { id: "money" },
      [
        ["funded", t.budget],
        ["paid out (claimed)", t.claimed],
        ["refunded", t.refunded],
        ["held by the escrow", t.left],
        ["payout total posted", t.payout_total],
      ].map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, money(v, t)))),
    ),
    h("section", { id: "audit" }, h("p", {}, "Auditing this task…")),
  );
  let audit;
  try {
    audit = await api(`/api/tasks/${taskId}/audit`);
  } catch (exc) {
    if (gen !== state.gen) return;
    $("#audit").replaceChildren(h("p", {}, `The audit could not run: ${exc.message}`));
    return;
  }
  if (gen !== state.gen) return;
  $("#audit").replaceChildren(
    h("h3", {}, "Audit"),
    h("p", { id: "verdict", class: audit.ok ? "ok" : "error" }, `Audit verdict: ${audit.verdict} (published data: ${audit.published})`),
    h("ul", {}, audit.findings.map((f) => h("li", {}, `${f.check}: ${f.message}`))),
    h("h3", {}, "Payout against quality"),
    h("img", { id: "plot-quality", alt: "payout against quality", src: `data:image/png;base64,${audit.plots.payout_vs_quality}` }),
    h("h3", {}, "Payout distribution"),
    h("img", { id: "plot-distribution", alt: "payout distribution", src: `data:image/png;base64,${audit.plots.payout_distribution}` }),
    h("h3", {}, "Money flow"),
    h("img", { id: "plot-money", alt: "money flow", src: `data:image/png;base64,${audit.plots.money_flow}` }),
  );
}

// -------------------------------------------------------------------------------------- start

async function start() {
  state.config = await api("/config.json");
  $("#connect").addEventListener("click", () => guard(async () => { await connect(); await route(); }));
  renderAccount();
  if (window.ethereum) {
    try {
      const accounts = await request("eth_accounts");
      if (accounts && accounts.length) state.account = getAddress(accounts[0]);
    } catch {
      /* a wallet that refuses eth_accounts is connected by the button */
    }
    renderAccount();
  }
  window.addEventListener("hashchange", route);
  await route();
}

window.labelproof = C; // the parity tests call these from the page
start().catch((exc) => fail(explain(exc)));
