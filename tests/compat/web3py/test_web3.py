"""web3.py against the node under test (RPC_URL / WS_URL)."""

import asyncio
import json
import os
from pathlib import Path

import pytest
from eth_utils import function_signature_to_4byte_selector
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.providers.persistent import WebSocketProvider

ART = json.loads((Path(__file__).parent.parent / "common" / "Store.json").read_text())
KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

w3 = Web3(Web3.HTTPProvider(os.environ["RPC_URL"], request_kwargs={"timeout": 20}))
acct = w3.eth.account.from_key(KEY0)


def send(tx: dict):
    tx.setdefault("from", acct.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(acct.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "gasPrice" not in tx:
        tx.setdefault("maxPriorityFeePerGas", w3.eth.max_priority_fee)
        tx.setdefault("maxFeePerGas", w3.eth.get_block("latest")["baseFeePerGas"] * 2 + tx["maxPriorityFeePerGas"])
    signed = acct.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)


@pytest.fixture(scope="module")
def store():
    factory = w3.eth.contract(abi=ART["Store"]["abi"], bytecode=ART["Store"]["bytecode"])
    tx = factory.constructor(42).build_transaction({"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")})
    rc = send(tx)
    assert rc["status"] == 1
    return w3.eth.contract(address=rc["contractAddress"], abi=ART["Store"]["abi"])


def test_chain_basics():
    assert w3.eth.chain_id == 1337
    assert w3.net.version == "1337"
    assert w3.is_connected()
    assert w3.eth.accounts[0] == acct.address
    assert w3.eth.get_balance(DEV1, "earliest") == 10_000 * 10**18
    for tag in ("latest", "safe", "finalized", "earliest"):
        assert w3.eth.get_block(tag)["number"] >= 0


def test_deploy_and_call(store):
    assert store.functions.value().call() == 42
    assert store.functions.owner().call() == acct.address
    assert len(w3.eth.get_code(store.address)) > 0


def test_transact_events_logs_and_filter(store):
    flt = store.events.ValueChanged.create_filter(from_block="latest")
    rc = send(store.functions.set(9, "nine").build_transaction({"from": acct.address}))
    assert rc["status"] == 1
    assert store.functions.value().call() == 9
    (ev,) = store.events.ValueChanged().process_receipt(rc)
    assert ev["args"]["newValue"] == 9 and ev["args"]["note"] == "nine"
    logs = store.events.ValueChanged().get_logs(from_block=0)
    assert any(l["transactionHash"] == rc["transactionHash"] for l in logs)
    raw = w3.eth.get_logs({"address": store.address, "fromBlock": 0, "toBlock": "latest"})
    assert any(l["transactionHash"] == rc["transactionHash"] for l in raw)
    new = flt.get_new_entries()
    assert [e["args"]["newValue"] for e in new] == [9]
    assert flt.get_new_entries() == []
    # Node-side signing through eth_sendTransaction.
    h = store.functions.set(10, "ten").transact({"from": w3.eth.accounts[1]})
    rc2 = w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)
    assert rc2["from"] == w3.eth.accounts[1]
    assert [e["args"]["newValue"] for e in flt.get_new_entries()] == [10]


def test_block_and_pending_filters():
    blocks = w3.eth.filter("latest")
    pending = w3.eth.filter("pending")
    rc = send({"to": DEV1, "value": 5})
    hashes = blocks.get_new_entries()
    assert w3.eth.get_block(rc["blockNumber"])["hash"] in hashes
    assert rc["transactionHash"] in pending.get_new_entries()
    assert w3.eth.uninstall_filter(blocks.filter_id)
    assert not w3.eth.uninstall_filter(blocks.filter_id)


def test_value_transfer_exact_cost():
    before0 = w3.eth.get_balance(acct.address)
    before1 = w3.eth.get_balance(DEV1)
    rc = send({"to": DEV1, "value": 123456789})
    assert rc["gasUsed"] == 21000
    n = rc["blockNumber"]
    assert w3.eth.get_balance(DEV1, n) - before1 == 123456789
    assert before0 - w3.eth.get_balance(acct.address, n) == 123456789 + rc["gasUsed"] * rc["effectiveGasPrice"]


def test_revert_reason_and_custom_error(store):
    with pytest.raises(ContractLogicError) as e:
        store.functions.failWithReason().call()
    assert "store: always fails" in str(e.value)
    with pytest.raises(ContractCustomError) as e:
        store.functions.set(2_000_000, "big").call()
    selector = function_signature_to_4byte_selector("TooLarge(uint256,uint256)").hex()
    data = e.value.data if isinstance(e.value.data, str) else e.value.data.hex()
    assert data.removeprefix("0x").startswith(selector)
    assert (2_000_000).to_bytes(32, "big").hex() in data


def test_legacy_and_access_list_transactions():
    gp = w3.eth.gas_price
    rc0 = send({"to": DEV1, "value": 1, "gasPrice": gp, "gas": 21000})
    assert rc0["type"] == 0 and rc0["status"] == 1
    rc1 = send({"to": DEV1, "value": 1, "gasPrice": gp, "gas": 30000, "accessList": [{"address": DEV1, "storageKeys": []}]})
    assert rc1["type"] == 1 and rc1["status"] == 1
    assert w3.eth.get_transaction(rc1["transactionHash"])["accessList"][0]["address"] == DEV1


def test_fee_history_and_block_receipts():
    hist = w3.eth.fee_history(3, "latest", [50])
    assert len(hist["baseFeePerGas"]) == len(hist["gasUsedRatio"]) + 1
    rc = send({"to": DEV1, "value": 2})
    receipts = w3.eth.get_block_receipts(rc["blockNumber"])
    assert rc["transactionHash"] in [r["transactionHash"] for r in receipts]


def test_new_heads_over_websocket():
    async def run():
        async with AsyncWeb3(WebSocketProvider(os.environ["WS_URL"])) as aw3:
            sub = await aw3.eth.subscribe("newHeads")
            rc = await asyncio.get_running_loop().run_in_executor(None, lambda: send({"to": DEV1, "value": 3}))
            async def first():
                async for msg in aw3.socket.process_subscriptions():
                    return msg
            msg = await asyncio.wait_for(first(), timeout=10)
            assert msg["subscription"] == sub
            assert msg["result"]["number"] >= rc["blockNumber"] - 1
            assert await aw3.eth.unsubscribe(sub)
    asyncio.run(run())


def test_keystore_written_by_lightstreams_decrypts_in_eth_account(tmp_path):
    """`lightstreams account import` writes a v3 file that eth-account (geth's format) opens."""
    import subprocess
    from eth_account import Account

    key = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    (tmp_path / "key").write_text(key + "\n")
    (tmp_path / "pw").write_text("correct horse\n")
    subprocess.run(
        [os.environ["LIGHTSTREAMS_BIN"], "account", "import", "--keystore", str(tmp_path / "ks"),
         "--password-file", str(tmp_path / "pw"), str(tmp_path / "key")],
        check=True, capture_output=True,
    )
    (path,) = list((tmp_path / "ks").iterdir())
    assert path.name.startswith("UTC--") and path.name.endswith("70997970c51812dc3a010c7d01b50e0d17dc79c8")
    keyfile = json.loads(path.read_text())
    assert keyfile["address"] == "70997970c51812dc3a010c7d01b50e0d17dc79c8"
    assert Account.decrypt(keyfile, "correct horse").hex().removeprefix("0x") == key
    # And a file eth-account writes lists under our CLI.
    theirs = Account.encrypt("0x" + "11" * 32, "pw2", kdf="scrypt")
    (tmp_path / "ks" / "UTC--2020-01-01T00-00-00.000000000Z--theirs").write_text(json.dumps(theirs))
    out = subprocess.run([os.environ["LIGHTSTREAMS_BIN"], "account", "list", "--keystore", str(tmp_path / "ks")],
                         check=True, capture_output=True, text=True).stdout
    assert Account.from_key("0x" + "11" * 32).address.lower()[2:] in out
