//! `lightstreams account new | list | import`, shaped like geth's.

use std::{io::IsTerminal, path::PathBuf};

use alloy_primitives::B256;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ls_keystore::{Keystore, read_password_file};

#[derive(Debug, Args)]
pub struct KeystoreArgs {
    /// Keystore directory [default: $LIGHTSTREAMS_DATADIR/keystore, else ~/.lightstreams/keystore]
    #[arg(long, env = "LIGHTSTREAMS_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    /// Read the password from the first line of this file instead of prompting.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a new account and print its address.
    New {
        #[command(flatten)]
        ks: KeystoreArgs,
        /// Encrypt the key with geth's light scrypt cost (n = 2^12): fast and weak, for
        /// throwaway accounts (benchmarks, tests).
        #[arg(long)]
        lightkdf: bool,
    },
    /// List the accounts in the keystore, oldest first.
    List(KeystoreArgs),
    /// Import a private key (a file holding it in hex, or '-' for stdin) into a new key file.
    Import {
        #[command(flatten)]
        ks: KeystoreArgs,
        /// File with the hex private key, or '-' to read it from stdin.
        keyfile: PathBuf,
    },
}

pub(crate) fn keystore_dir(args: &KeystoreArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.keystore {
        return Ok(d.clone());
    }
    if let Some(d) = std::env::var_os("LIGHTSTREAMS_DATADIR") {
        return Ok(PathBuf::from(d).join("keystore"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --keystore")?;
    Ok(PathBuf::from(home).join(".lightstreams").join("keystore"))
}

pub(crate) fn password(args: &KeystoreArgs, confirm: bool, prompt: &str) -> anyhow::Result<String> {
    if let Some(f) = &args.password_file {
        return Ok(read_password_file(f)?);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password given: pass --password-file (stdin is not a terminal)");
    }
    let pw = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Repeat password: ")? != pw {
        bail!("passwords do not match");
    }
    Ok(pw)
}

pub fn run(cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::New { ks: args, lightkdf } => {
            let ks = Keystore::open(keystore_dir(&args)?)?;
            let ks = if lightkdf { ks.with_light_kdf() } else { ks };
            let pw = password(&args, true, "Password: ")?;
            let (address, path) = ks.new_account(&pw)?;
            println!("Public address of the key:   {address}");
            println!("Path of the secret key file: {}", path.display());
            eprintln!("\n- You can share your public address with anyone.\n- You must NEVER share the secret key with anyone!\n- You must BACKUP your key file! Without the key, it's impossible to access account funds!\n- You must REMEMBER your password! Without the password, it's impossible to decrypt the key!");
        }
        AccountCommand::List(args) => {
            let ks = Keystore::open(keystore_dir(&args)?)?;
            for (i, (address, path)) in ks.list()?.iter().enumerate() {
                println!("Account #{i}: {{{}}} keystore://{}", alloy_primitives::hex::encode(address), path.display());
            }
        }
        AccountCommand::Import { ks: args, keyfile } => {
            let text = if keyfile.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&keyfile).with_context(|| format!("reading {}", keyfile.display()))?
            };
            let hex = text.trim();
            let key: B256 = hex
                .parse()
                .map_err(|_| anyhow::anyhow!("{} does not hold a 32-byte hex private key", keyfile.display()))?;
            let ks = Keystore::open(keystore_dir(&args)?)?;
            let pw = password(&args, true, "Password: ")?;
            let (address, path) = ks.import_private_key(key, &pw)?;
            println!("Address: {{{}}}", alloy_primitives::hex::encode(address));
            println!("Path of the secret key file: {}", path.display());
        }
    }
    Ok(())
}
