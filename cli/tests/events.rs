//! End-to-end tests of `edgeid events read|ack`: the deltas `sync apply` applied and refused are
//! in the journal, paged after a cursor, acknowledged, and the acknowledgement never goes back.

mod common;
use common::*;

fn example(name: &str) -> String {
    let p: std::path::PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "testdata", "sync", name]
        .iter()
        .collect();
    p.to_str().unwrap().to_string()
}

#[test]
fn events_read_and_ack() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("store");
    let st = st.to_str().unwrap();
    json(&[
        "init",
        "--store",
        st,
        "--model",
        "w600k_mbf",
        "--dim",
        "512",
    ]);
    edgeid(&["sync", "apply", "--store", st, &example("01-full.json")]);
    edgeid(&["sync", "apply", "--store", st, &example("03-gap.json")]);

    let all = json(&["events", "read", "--store", st]);
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{all}");
    assert_eq!(events[0]["id"], 1);
    assert_eq!(events[0]["kind"], "delta_applied");
    assert_eq!(events[0]["delta"]["sequence"], 41);
    assert_eq!(events[1]["kind"], "delta_refused");
    assert_eq!(events[1]["delta"]["refusal"], "gap");
    for e in events {
        assert!(e["time"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(e["offset"].is_string() && e["dst"].is_boolean(), "{e}");
        assert!(e["time_quality"].is_string(), "{e}");
    }
    assert_eq!(all["cursor"], 2);

    let page = json(&[
        "events", "read", "--store", st, "--after", "1", "--limit", "5",
    ]);
    assert_eq!(page["events"][0]["id"], 2);
    assert_eq!(page["cursor"], 2);
    let page = json(&["events", "read", "--store", st, "--after", "2"]);
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    assert_eq!(page["cursor"], 2);

    assert_eq!(json(&["events", "ack", "--store", st, "2"])["acked"], 2);
    assert_eq!(
        json(&["events", "ack", "--store", st, "1"])["acked"],
        2,
        "the acknowledgement never goes back"
    );
    let o = edgeid(&["events", "ack", "--store", st, "9"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("last event is 2"), "{}", stderr(&o));
    let text = stdout(&edgeid(&["events", "read", "--store", st]));
    assert!(
        text.contains("delta_refused") && text.contains("cursor 2"),
        "{text}"
    );
}
