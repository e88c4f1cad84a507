use ls_content::{Blockstore, CidVersion, ImportOptions, MemBlockstore, export_car, import, import_car, read_all};

fn data() -> Vec<u8> {
    (0..600_000u32).map(|i| (i * 13 % 251) as u8).collect()
}

#[test]
fn car_round_trip_for_v0_and_v1() {
    for v in [CidVersion::V0, CidVersion::V1] {
        let a = MemBlockstore::default();
        let got = import(&data()[..], &a, ImportOptions { cid_version: v, ..Default::default() }).unwrap();
        let mut car = Vec::new();
        let blocks = export_car(&a, &got.root, &mut car).unwrap();
        assert_eq!(blocks as usize, a.len());
        let b = MemBlockstore::default();
        assert_eq!(import_car(&b, &car[..]).unwrap(), vec![got.root]);
        let mut out = Vec::new();
        read_all(&b, &got.root, &mut out).unwrap();
        assert_eq!(out, data());
    }
}

#[test]
fn truncated_or_corrupt_cars_are_refused_and_store_only_verified_blocks() {
    let a = MemBlockstore::default();
    let got = import(&data()[..], &a, ImportOptions::default()).unwrap();
    let mut car = Vec::new();
    export_car(&a, &got.root, &mut car).unwrap();
    // What a refused CAR leaves behind is verified blocks of its own, unpinned (GC takes them).
    let only_verified = |b: &MemBlockstore| {
        for cid in b.cids().unwrap() {
            assert!(a.has(&cid).unwrap(), "{cid} is not a block of the CAR");
        }
    };
    for cut in [0, 5, 60, car.len() / 2, car.len() - 1] {
        let b = MemBlockstore::default();
        assert!(import_car(&b, &car[..cut]).is_err(), "cut at {cut}");
        only_verified(&b);
    }
    let mut corrupt = car.clone();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 1;
    let b = MemBlockstore::default();
    assert!(import_car(&b, &corrupt[..]).unwrap_err().to_string().contains("does not match"));
    only_verified(&b);
    assert!(b.cids().unwrap().len() < a.cids().unwrap().len(), "the corrupt block was stored");
    assert!(import_car(&MemBlockstore::default(), &b"\x05hello"[..]).is_err());
}
