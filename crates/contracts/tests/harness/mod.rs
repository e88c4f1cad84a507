//! A tiny in-memory chain on revm: the predeploys at their addresses, funded accounts, a clock.
#![allow(dead_code)]

use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_primitives::B256;
use alloy_sol_types::{SolCall, SolError, SolValue};
use ls_contracts::{PredeployConfig, predeploys};
use revm::{
    Context, DatabaseCommit, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
    bytecode::Bytecode,
    context::{BlockEnv, ContextTr, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    handler::MainnetContext,
    primitives::TxKind,
    state::AccountInfo,
};

pub struct TestChain {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    pub timestamp: u64,
}

/// What a transaction did.
#[derive(Debug)]
pub enum Outcome {
    Ok { output: Bytes, gas: u64, logs: Vec<alloy_primitives::Log>, created: Option<Address> },
    Reverted(Bytes),
}

impl Outcome {
    pub fn ok(self) -> (Bytes, u64) {
        match self {
            Outcome::Ok { output, gas, .. } => (output, gas),
            Outcome::Reverted(data) => panic!("unexpected revert: {data}"),
        }
    }

    pub fn logs(&self) -> &[alloy_primitives::Log] {
        match self {
            Outcome::Ok { logs, .. } => logs,
            Outcome::Reverted(_) => &[],
        }
    }

    /// Asserts a revert with custom error `E`.
    #[track_caller]
    pub fn reverts_with<E: SolError>(self) -> E {
        match self {
            Outcome::Reverted(data) => E::abi_decode(&data)
                .unwrap_or_else(|_| panic!("reverted with {data}, not {}", E::SIGNATURE)),
            Outcome::Ok { .. } => panic!("expected {} but it succeeded", E::SIGNATURE),
        }
    }
}

impl TestChain {
    pub fn new(cfg: &PredeployConfig) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        for (addr, acc) in predeploys(cfg).unwrap() {
            let code = Bytecode::new_raw(acc.code.clone());
            db.insert_account_info(addr, AccountInfo { nonce: 1, code_hash: code.hash_slow(), code: Some(code), ..Default::default() });
            for (k, v) in acc.storage {
                db.insert_account_storage(addr, k.into(), v.into()).unwrap();
            }
        }
        let mut ctx = Context::mainnet().with_db(db).with_cfg(revm::context::CfgEnv::new_with_spec(ls_contracts::SPEC));
        ctx.modify_cfg(|c| c.disable_nonce_check = true);
        let mut chain = Self { evm: ctx.build_mainnet(), timestamp: 1_700_000_000 };
        chain.set_time(chain.timestamp);
        chain
    }

    pub fn set_time(&mut self, t: u64) {
        self.timestamp = t;
        self.evm.set_block(BlockEnv { timestamp: U256::from(t), gas_limit: 30_000_000, ..Default::default() });
    }

    pub fn advance(&mut self, secs: u64) {
        self.set_time(self.timestamp + secs);
    }

    pub fn fund(&mut self, who: Address, wei: U256) {
        let db = self.evm.db_mut();
        let mut info = db.load_account(who).map(|a| a.info.clone()).unwrap_or_default();
        info.balance = wei;
        db.insert_account_info(who, info);
    }

    pub fn balance(&mut self, who: Address) -> U256 {
        self.evm.db_mut().load_account(who).map(|a| a.info.balance).unwrap_or_default()
    }

    pub fn account(&self, n: u8) -> Address {
        Address::from_word(keccak256([n]))
    }

    fn run(&mut self, from: Address, to: TxKind, data: Bytes, value: U256) -> Outcome {
        let tx = TxEnv { caller: from, kind: to, data, value, gas_limit: 10_000_000, ..Default::default() };
        let out = self.evm.transact(tx).expect("valid transaction");
        let gas = out.result.tx_gas_used();
        let result = match out.result {
            ExecutionResult::Success { output, logs, .. } => {
                let created = output.address().copied();
                Outcome::Ok { output: output.into_data(), gas, logs, created }
            }
            ExecutionResult::Revert { output, .. } => Outcome::Reverted(output),
            ExecutionResult::Halt { reason, .. } => panic!("halted: {reason:?}"),
        };
        if matches!(result, Outcome::Ok { .. }) {
            self.evm.db_mut().commit(out.state);
        }
        result
    }

    pub fn send<C: SolCall>(&mut self, from: Address, to: Address, call: C, value: U256) -> Outcome {
        self.run(from, TxKind::Call(to), call.abi_encode().into(), value)
    }

    pub fn view<C: SolCall>(&mut self, to: Address, call: C) -> C::Return {
        let (out, _) = self.send(Address::ZERO, to, call, U256::ZERO).ok();
        C::abi_decode_returns(&out).expect("decodable return")
    }

    pub fn deploy(&mut self, from: Address, artifact: &'static str, args: &[u8]) -> Address {
        let mut init = ls_contracts::artifact_bytes(artifact, "bytecode").unwrap().to_vec();
        init.extend_from_slice(args);
        match self.run(from, TxKind::Create, init.into(), U256::ZERO) {
            Outcome::Ok { created: Some(a), .. } => a,
            other => panic!("deployment failed: {other:?}"),
        }
    }
}

/// The FileRegistry id of the file `owner` registers with `salt`.
pub fn file_id(owner: Address, salt: B256) -> B256 {
    keccak256((owner, salt).abi_encode())
}
