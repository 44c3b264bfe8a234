use super::*;

#[test]
fn log_append_range_truncate_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .log_append_unsynced((1..=5).map(|i| (i, vec![i as u8])))
        .unwrap();
    store.sync_wal().unwrap();
    assert_eq!(
        store.log_range(2, 4).unwrap(),
        vec![(2, vec![2]), (3, vec![3])]
    );
    assert_eq!(store.log_last().unwrap(), Some((5, vec![5])));
    store.log_truncate(4).unwrap();
    assert_eq!(store.log_last().unwrap(), Some((3, vec![3])));
    store.log_purge(2, ("purged", vec![9])).unwrap();
    assert_eq!(store.log_range(0, 10).unwrap(), vec![(3, vec![3])]);
    assert_eq!(store.meta_get("purged").unwrap(), Some(vec![9]));
}

#[test]
fn state_survives_reopen_and_scans_stay_in_prefix() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let mut w = Writes::new();
        w.insert(b"a1".to_vec(), Some(b"x".to_vec()));
        w.insert(b"a2".to_vec(), Some(b"y".to_vec()));
        w.insert(b"b1".to_vec(), Some(b"z".to_vec()));
        store.commit_state(w).unwrap();
        let mut w = Writes::new();
        w.insert(b"a2".to_vec(), None);
        store.commit_state(w).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.state_scan(b"a", None, 10).unwrap(),
        vec![(b"a1".to_vec(), b"x".to_vec())]
    );
    assert_eq!(
        store.state_last(b"b").unwrap(),
        Some((b"b1".to_vec(), b"z".to_vec()))
    );
    assert_eq!(StateView::get(&store, b"b1").unwrap(), Some(b"z".to_vec()));
}

#[test]
fn a_second_open_of_the_same_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path())
        .err()
        .expect("second open must fail");
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use by another Keel process"));
}

#[test]
fn replace_state_drops_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut w = Writes::new();
    w.insert(b"old".to_vec(), Some(b"1".to_vec()));
    w.insert(vec![0xff, 0xff], Some(b"2".to_vec()));
    store.commit_state(w).unwrap();
    store
        .replace_state([(b"new".to_vec(), b"3".to_vec())])
        .unwrap();
    let mut all = Vec::new();
    store
        .state_snapshot_for_each(
            || {},
            |k, v| -> Result<()> {
                all.push((k.to_vec(), v.to_vec()));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(all, vec![(b"new".to_vec(), b"3".to_vec())]);
}

#[test]
fn a_new_directory_records_the_format_and_an_unversioned_database_is_format_one() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let recorded = std::fs::read_to_string(dir.path().join(FORMAT_FILE)).unwrap();
    assert_eq!(recorded.trim(), FORMAT_VERSION.to_string());
    // A database written before the format file existed opens and gets one.
    std::fs::remove_file(dir.path().join(FORMAT_FILE)).unwrap();
    assert_eq!(read_format(dir.path()).unwrap(), Found::Unrecorded);
    drop(Store::open(dir.path()).unwrap());
    assert!(dir.path().join(FORMAT_FILE).exists());
}

#[test]
fn a_directory_of_a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    std::fs::write(
        dir.path().join(FORMAT_FILE),
        format!("{}\n", FORMAT_VERSION + 1),
    )
    .unwrap();
    let listing = |d: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().len())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(dir.path());
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StorageError::NewerFormat { found, .. } if found == FORMAT_VERSION + 1));
    assert!(err.to_string().contains("newer Keel"), "{err}");
    assert_eq!(listing(dir.path()), before, "nothing written");
    std::fs::write(dir.path().join(FORMAT_FILE), "two\n").unwrap();
    assert!(matches!(
        Store::open(dir.path()).err(),
        Some(StorageError::BadFormatFile { .. })
    ));
}
