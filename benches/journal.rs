//! The event journal's numbers (`cargo bench --bench journal`): the disk's fdatasync latency, a
//! single append alone, appends from concurrent threads (group commit) and in batches, the bytes
//! of 5 million decision events on disk, opening a journal of 5 million events, and reading 1
//! million events after a cursor. A plain binary (no criterion): each number is one measured
//! run on a fresh temporary directory (`EDGEID_BENCH_DIR` chooses where, default the system's).

use edgeid::journal::{DecisionEvent, EventKind, Journal, JournalOptions};
use std::io::Write;
use std::time::{Duration, Instant};

fn decision(n: u64) -> EventKind {
    EventKind::Decision(DecisionEvent {
        location: "site-01".into(),
        door: format!("door-{:02}", n % 12),
        granted: !n.is_multiple_of(7),
        reason: n.is_multiple_of(7).then(|| "outside_schedule".to_string()),
        user: Some(format!("u{:06}", n % 10_000)),
        factors: vec!["card".into(), "face".into()],
        scores: vec![("face".into(), 0.62, 0.41)],
        punch: n.is_multiple_of(5).then(|| "check_in".to_string()),
        ..DecisionEvent::default()
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn tempdir() -> tempfile::TempDir {
    match std::env::var_os("EDGEID_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn main() {
    // The disk's fdatasync: 100-byte append + fdatasync.
    let dir = tempdir();
    let mut f = std::fs::File::create(dir.path().join("probe")).unwrap();
    let mut t = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        f.write_all(&[7u8; 100]).unwrap();
        f.sync_data().unwrap();
        t.push(s.elapsed());
    }
    let fsync = median(t);
    println!(
        "fdatasync (100-byte append), median of 200: {:.0} us",
        us(fsync)
    );

    // A single append alone.
    let j = Journal::open(&dir.path().join("single"), JournalOptions::default()).unwrap();
    let mut t = Vec::new();
    for n in 0..200 {
        let s = Instant::now();
        j.append(decision(n)).unwrap();
        t.push(s.elapsed());
    }
    println!(
        "single append alone, median of 200: {:.0} us",
        us(median(t))
    );
    drop(j);

    // Concurrent appends: group commit.
    for threads in [16usize, 64] {
        let j = Journal::open(
            &dir.path().join(format!("threads-{threads}")),
            JournalOptions::default(),
        )
        .unwrap();
        let per = 400;
        let s = Instant::now();
        std::thread::scope(|sc| {
            for t in 0..threads {
                let j = &j;
                sc.spawn(move || {
                    for n in 0..per {
                        j.append(decision((t * per + n) as u64)).unwrap();
                    }
                });
            }
        });
        let el = s.elapsed();
        println!(
            "{threads} threads x {per} appends (each returns when durable): {:.0} events/s",
            (threads * per) as f64 / el.as_secs_f64()
        );
    }

    // Batches of 1,000 (a caller batching its events) up to 5 million events.
    let big = dir.path().join("five-million");
    let j = Journal::open(&big, JournalOptions::default()).unwrap();
    let total = 5_000_000u64;
    let batch = 1000u64;
    let s = Instant::now();
    let mut n = 0;
    while n < total {
        let kinds: Vec<EventKind> = (n..n + batch).map(decision).collect();
        j.append_batch(&kinds).unwrap();
        n += batch;
    }
    let el = s.elapsed();
    let st = j.stats();
    println!(
        "append_batch of {batch}, 5,000,000 events: {:.0} events/s; {} files, {} bytes on disk, {:.1} bytes/event",
        total as f64 / el.as_secs_f64(),
        st.files,
        st.bytes,
        st.bytes as f64 / total as f64
    );
    assert_eq!(st.lost, 0, "the default bound holds 5 million events");
    drop(j);

    // Opening it.
    let mut t = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        let j = Journal::open(&big, JournalOptions::default()).unwrap();
        t.push(s.elapsed());
        assert_eq!(j.stats().last_id, total);
    }
    println!(
        "open a journal of 5,000,000 events, median of 5: {:.1} ms",
        us(median(t)) / 1000.0
    );

    // Reading 1 million events after a cursor, in pages of 10,000.
    let j = Journal::open(&big, JournalOptions::default()).unwrap();
    let mut cursor = 2_000_000;
    let mut got = 0;
    let s = Instant::now();
    while got < 1_000_000 {
        let p = j.read(cursor, 10_000).unwrap();
        got += p.events.len();
        cursor = p.cursor;
    }
    let el = s.elapsed();
    println!(
        "read 1,000,000 events after cursor 2,000,000 (pages of 10,000): {:.0} events/s",
        got as f64 / el.as_secs_f64()
    );
}
