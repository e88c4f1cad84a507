//! Ethereum JSON-RPC server (eth_, net_, web3_, lightstreams_)
