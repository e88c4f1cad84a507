//! `lightstreams pin add | rm | ls` and `lightstreams gc`, against the local node.

use clap::Subcommand;

use crate::remote::{MAX_ANSWER, NodeArg, api_post, client, read_json, read_capped};

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Keep a file (every block its CID reaches) through garbage collection.
    Add {
        #[command(flatten)]
        node: NodeArg,
        cid: String,
    },
    /// Stop keeping a file; its blocks go at the next `lightstreams gc`.
    Rm {
        #[command(flatten)]
        node: NodeArg,
        cid: String,
    },
    /// List pinned CIDs.
    Ls {
        #[command(flatten)]
        node: NodeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PinCommand) -> anyhow::Result<()> {
    let http = client()?;
    match cmd {
        PinCommand::Add { node, cid } => {
            api_post(&http, &node.node, "pin/add", &[("arg", &cid)])?;
            println!("pinned {cid} recursively");
        }
        PinCommand::Rm { node, cid } => {
            api_post(&http, &node.node, "pin/rm", &[("arg", &cid)])?;
            println!("unpinned {cid}");
        }
        PinCommand::Ls { node, json } => {
            let v = read_json(api_post(&http, &node.node, "pin/ls", &[])?, "pin/ls")?;
            if json {
                println!("{v}");
            } else {
                let mut keys: Vec<&String> = v["Keys"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
                keys.sort();
                for k in keys {
                    println!("{k} recursive");
                }
            }
        }
    }
    Ok(())
}

/// Removes every block no pin reaches.
pub fn gc(node: &NodeArg, json: bool) -> anyhow::Result<()> {
    let http = client()?;
    let resp = api_post(&http, &node.node, "repo/gc", &[])?;
    let freed: u64 = resp.headers().get("x-freed-bytes").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    let text = read_capped(resp, MAX_ANSWER, "repo/gc")?;
    let removed: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["Key"]["/"].as_str().map(str::to_string))
        .collect();
    if json {
        println!("{}", serde_json::json!({"Removed": removed, "FreedBytes": freed}));
    } else {
        for cid in &removed {
            println!("removed {cid}");
        }
        println!("{} blocks removed, {freed} bytes freed", removed.len());
    }
    Ok(())
}
