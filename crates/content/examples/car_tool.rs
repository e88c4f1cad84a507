//! Helper for the CAR interop suite (tests/compat/unixfs): makes and checks CARs of the
//! deterministic test pattern byte(i) = (i * 31 + 7) % 251.
//!
//!   car_tool export <len> <v0|v1> <out.car>   prints the root CID
//!   car_tool import <in.car> <len>            prints the root CID; exit 1 if the bytes differ

use std::io::Read;

use ls_content::{CidVersion, ImportOptions, MemBlockstore, export_car, import, import_car, read_all};

fn pattern(len: u64) -> impl Read {
    struct P(u64, u64);
    impl Read for P {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min((self.1 - self.0) as usize);
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = ((self.0 + i as u64) * 31 + 7).rem_euclid(251) as u8;
            }
            self.0 += n as u64;
            Ok(n)
        }
    }
    P(0, len)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("export") => {
            let len: u64 = args[2].parse()?;
            let v = if args[3] == "v1" { CidVersion::V1 } else { CidVersion::V0 };
            let store = MemBlockstore::default();
            let got = import(pattern(len), &store, ImportOptions { cid_version: v, ..Default::default() })?;
            let mut f = std::fs::File::create(&args[4])?;
            export_car(&store, &got.root, &mut f)?;
            println!("{}", got.root);
        }
        Some("import") => {
            let len: u64 = args[3].parse()?;
            let store = MemBlockstore::default();
            let roots = import_car(&store, std::fs::File::open(&args[2])?)?;
            let root = roots.first().ok_or("CAR has no root")?;
            let mut out = Vec::new();
            read_all(&store, root, &mut out)?;
            let mut expected = Vec::new();
            pattern(len).read_to_end(&mut expected)?;
            if out != expected {
                eprintln!("content of {root} differs from the pattern");
                std::process::exit(1);
            }
            println!("{root}");
        }
        _ => {
            eprintln!("usage: car_tool export <len> <v0|v1> <out.car> | car_tool import <in.car> <len>");
            std::process::exit(2);
        }
    }
    Ok(())
}
