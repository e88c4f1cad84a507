//! FileRegistry and Market contracts: artifacts, bindings, genesis predeploys
