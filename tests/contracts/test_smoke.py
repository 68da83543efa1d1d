def test_deploy(suite, escrow, registry, committee):
    assert escrow.version() == "1.0.0"
    assert registry.escrow() == escrow.address
    assert escrow.registry() == registry.address
    assert escrow.committee() == committee.address


def test_task(create_task, escrow, chain):
    tid = create_task()
    t = escrow.task(tid)
    print(t, type(t))
    print(t.dict())
