//! The redeploy flow of the core against the real Docker Engine, through the public blocking API.
//!
//! No registry here (`pull: false`); "the tag moved" is `docker tag <repo>:v2 <repo>:prod-<test>`.
//! The Python suite covers pulls and the registry.
//!
//! The test bed, all of it named or labelled for this run only (CI and benchmarks share the
//! engine; nothing else is ever touched):
//! - two images `ddtest-rust-<pid>/web:v1` and `:v2`, built once per test binary FROM scratch
//!   with the classic builder: a static busybox serving `/www/index.html` ("v1" / "v2") on port
//!   80, and exiting at once on SIGTERM, so no stop waits for the kill;
//! - per test, a container `ddtest-rust-<pid>-<test>` labelled `saltext-docker-deploy-test=
//!   rust-<pid>` and a tag `<repo>:prod-<test>`, both removed by the test's [`Case`] guard, also
//!   when the test fails;
//! - a reaper process, started with the images, that waits for this test process to end (EOF on
//!   a pipe only this process holds, so also after a crash or a kill) and then removes whatever
//!   of this run is left: the v1 and v2 tags, which a `static` never drops, and anything a killed
//!   test could not clean up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use docker_deploy::{
    image_diff, no_log, redeploy_container, ContainerSpec, Error, ErrorKind, ImageRef, Options,
    PullPolicy, RedeployReport, RedeployRequest,
};
use serde_json::{json, Map, Value};

const TEST_LABEL: &str = "saltext-docker-deploy-test";
const BUSYBOX: &str = "/bin/busybox";
const SHUTDOWN_TIMEOUT_S: u64 = 5;

/// Deploy the local tag as it is: these tests have no registry.
fn local_tag() -> Options {
    Options {
        pull_policy: PullPolicy::Never,
        ..Options::default()
    }
}

fn run_id() -> String {
    format!("rust-{}", std::process::id())
}

fn label() -> String {
    format!("{TEST_LABEL}={}", run_id())
}

fn repo() -> String {
    format!("ddtest-{}/web", run_id())
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn docker(args: &[&str]) -> Output {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.ok, "docker {args:?} failed: {}", out.stderr);
    out.stdout
}

/// The final cleanup of this run, in a process of its own (see the module docs). Its own
/// process group, so a Ctrl-C of `cargo test` does not take it down with the tests.
fn start_reaper() {
    static REAPER: OnceLock<Child> = OnceLock::new();
    REAPER.get_or_init(|| {
        let script = format!(
            "cat >/dev/null\n\
             docker ps -aq --filter 'label={label}' | xargs -r docker rm -f -v\n\
             docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' '{repo}' | xargs -r docker rmi\n",
            label = label(),
            repo = repo(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh runs")
    });
}

/// A local image of the test bed.
struct Image {
    tag: String,
    id: String,
}

struct Images {
    v1: Image,
    v2: Image,
}

/// v1 and v2, built once per test binary (the two builds run side by side).
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        start_reaper();
        std::thread::scope(|scope| {
            let v1 = scope.spawn(|| build("v1"));
            let v2 = scope.spawn(|| build("v2"));
            let join = |handle: std::thread::ScopedJoinHandle<'_, Image>| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            Images {
                v1: join(v1),
                v2: join(v2),
            }
        })
    })
}

/// Builds `<repo>:<version>`. `--no-cache`: the classic builder would otherwise reuse the
/// intermediate `COPY busybox` image of another run on the engine (the Python suite builds the
/// same layers), and that run's cleanup deleting it mid-build fails ours with "unknown parent
/// image ID".
fn build(version: &str) -> Image {
    let dir = std::env::temp_dir().join(format!("ddtest-{}-{version}", run_id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).expect("a temporary build context");
    std::fs::copy(BUSYBOX, dir.join("busybox")).expect("busybox-static is installed");
    std::fs::write(dir.join("www/index.html"), format!("{version}\n")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         COPY www /www\n\
         CMD [\"/bin/busybox\",\"sh\",\"-c\",\"trap 'exit 0' TERM; /bin/busybox httpd -f -p 80 -h /www & wait\"]\n",
    )
    .unwrap();
    let tag = format!("{}:{version}", repo());
    let out = docker(&[
        "build",
        "-q",
        "--force-rm",
        "--no-cache",
        "--label",
        &label(),
        "-t",
        &tag,
        dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.ok, "docker build of {tag} failed: {}", out.stderr);
    let id = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    Image { tag, id }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn http_get(port: u16) -> std::io::Result<String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// The body of the first HTTP answer on `port`, retried for up to 5 s while the container
/// starts (until httpd listens, the Engine's proxy accepts and closes at once).
fn http_body(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let last = match http_get(port) {
            Ok(response) if response.starts_with("HTTP/") => {
                let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
                assert!(head.contains(" 200 "), "port {port}: {head}");
                return body.to_string();
            }
            Ok(response) => format!("answer {response:?}"),
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "no HTTP answer on 127.0.0.1:{port} within 5 s ({last})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_serves(port: u16, version: &str) {
    let body = http_body(port);
    assert!(
        body.contains(version),
        "127.0.0.1:{port} served {body:?}, not {version}"
    );
}

/// One container under test, named for the test. Dropping it removes the container, the
/// helpers a redeploy uses, and the test's tag, also when the test panicked.
struct Case {
    name: String,
    tag: String,
    port: u16,
    images: &'static Images,
}

impl Case {
    /// The case, with its tag `<repo>:prod-<test>` on v1.
    fn new(test: &str) -> Self {
        let images = images();
        let case = Case {
            name: format!("ddtest-{}-{test}", run_id()),
            tag: format!("{}:prod-{test}", repo()),
            port: free_port(),
            images,
        };
        case.move_tag(&images.v1);
        case
    }

    fn move_tag(&self, to: &Image) {
        docker_ok(&["tag", &to.tag, &self.tag]);
    }

    /// The keywords every case declares (test label, port on 127.0.0.1, a short stop timeout),
    /// with `extra` added or overriding.
    fn spec(&self, extra: Value) -> ContainerSpec {
        let mut keywords: Map<String, Value> = json!({
            "labels": {TEST_LABEL: run_id()},
            "port_bindings": [format!("127.0.0.1:{}:80", self.port)],
            "shutdown_timeout": SHUTDOWN_TIMEOUT_S,
        })
        .as_object()
        .unwrap()
        .clone();
        keywords.extend(
            extra
                .as_object()
                .expect("extra keywords are a dict")
                .clone(),
        );
        ContainerSpec::from_keywords(&self.name, &keywords).expect("a valid spec")
    }

    fn deploy(&self, extra: Value) -> Result<RedeployReport, Error> {
        let image = ImageRef::parse(&self.tag).expect("a valid reference");
        let request = RedeployRequest::new(&self.name, image, self.spec(extra), local_tag())?;
        redeploy_container(&request, &no_log)
    }

    fn deploy_ok(&self, extra: Value) -> RedeployReport {
        self.deploy(extra)
            .unwrap_or_else(|e| panic!("redeploy of {} failed: {e:?}", self.name))
    }

    /// `docker inspect -f <format>` of the container under the name.
    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "--type", "container", "-f", format, &self.name])
    }

    /// (ID, State.StartedAt) of the container under the name.
    fn identity(&self) -> (String, String) {
        let out = self.inspect("{{.Id}} {{.State.StartedAt}}");
        let (id, started) = out.split_once(' ').expect("ID and StartedAt");
        (id.to_string(), started.to_string())
    }

    fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// Every container whose name contains the name: the one under it and any helper
    /// (`<name>.deploy-new`, `<name>.deploy-old`).
    fn containers(&self) -> Vec<String> {
        let out = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={}", self.name),
            "--format",
            "{{.Names}}",
        ]);
        let mut names: Vec<String> = out.lines().map(String::from).collect();
        names.sort();
        names
    }

    fn assert_alone(&self) {
        assert_eq!(
            self.containers(),
            vec![self.name.clone()],
            "exactly one container, no .deploy-new / .deploy-old left"
        );
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let new = format!("{}.deploy-new", self.name);
        let old = format!("{}.deploy-old", self.name);
        docker(&["rm", "-f", "-v", &self.name, &new, &old]);
        docker(&["rmi", &self.tag]);
    }
}

#[test]
fn first_deploy_creates_and_the_same_call_is_a_noop() {
    let case = Case::new("noop");
    let first = case.deploy_ok(json!({}));
    assert_eq!(first.action.as_str(), "created", "{first:?}");
    assert_eq!(first.image_id, case.images.v1.id);
    assert_eq!(first.previous_image_id, None);
    assert!(case.running());
    assert_serves(case.port, "v1");
    let (id, started) = case.identity();
    assert_eq!(first.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(case.inspect("{{.Image}}"), case.images.v1.id);
    // Declared and recorded on the container as declared.
    assert_eq!(
        case.inspect(&format!("{{{{index .Config.Labels \"{TEST_LABEL}\"}}}}")),
        run_id()
    );
    assert_eq!(
        case.inspect("{{index .Config.Labels \"io.saltext.docker-deploy.spec\"}}"),
        case.spec(json!({})).canonical_json()
    );
    assert_eq!(
        case.inspect("{{.Config.StopTimeout}}"),
        SHUTDOWN_TIMEOUT_S.to_string()
    );

    let again = case.deploy_ok(json!({}));
    assert_eq!(again.action.as_str(), "none", "{again:?}");
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        case.identity(),
        (id, started),
        "container ID and StartedAt unchanged"
    );
    assert!(case.running());
    case.assert_alone();
}

#[test]
fn moved_tag_replaces_the_container() {
    let case = Case::new("moved");
    let (v1, v2) = (&case.images.v1.id, &case.images.v2.id);
    let first = case.deploy_ok(json!({}));
    assert_eq!(first.action.as_str(), "created", "{first:?}");
    // Serving, so the shell's SIGTERM trap is set before the redeploy stops it.
    assert_serves(case.port, "v1");
    let (old_id, _) = case.identity();

    case.move_tag(&case.images.v2);
    let diff = image_diff(&case.name, &case.tag).unwrap();
    assert!(diff.exists && diff.differs, "{diff:?}");
    assert_eq!(diff.container_id.as_deref(), Some(old_id.as_str()));
    assert_eq!(diff.container_image_id.as_ref(), Some(v1));
    assert_eq!(diff.image_id.as_ref(), Some(v2));

    let replaced = case.deploy_ok(json!({}));
    assert_eq!(replaced.action.as_str(), "replaced", "{replaced:?}");
    assert_eq!(replaced.changes["image"], json!({"old": v1, "new": v2}));
    assert_eq!(replaced.previous_image_id.as_ref(), Some(v1));
    assert!(!replaced.changes.contains_key("environment"));
    let downtime = replaced
        .downtime_ms
        .expect("a running container was replaced");
    assert!(downtime > 0.0, "{downtime}");
    let stop = replaced
        .steps
        .iter()
        .find(|s| s.step == "stop")
        .expect("the old container was stopped");
    assert!(
        stop.duration_ms < (SHUTDOWN_TIMEOUT_S * 900) as f64,
        "the stop took {} ms: SIGTERM was not honoured and the Engine waited for the kill",
        stop.duration_ms
    );

    let (new_id, _) = case.identity();
    assert_ne!(new_id, old_id);
    assert_eq!(replaced.container_id.as_deref(), Some(new_id.as_str()));
    assert_eq!(&case.inspect("{{.Image}}"), v2);
    assert_eq!(
        &case.inspect("{{index .Config.Labels \"io.saltext.docker-deploy.previous-image\"}}"),
        v1
    );
    assert!(case.running());
    assert_serves(case.port, "v2");
    case.assert_alone();
    assert!(
        !docker(&["inspect", "--type", "container", &old_id]).ok,
        "the old container is gone"
    );
    assert!(!image_diff(&case.name, &case.tag).unwrap().differs);

    let again = case.deploy_ok(json!({}));
    assert_eq!(again.action.as_str(), "none", "{again:?}");
    assert!(again.changes.is_empty());
    assert_eq!(case.identity().0, new_id);
}

#[test]
fn environment_change_replaces_then_is_stable() {
    let case = Case::new("env");
    let first = case.deploy_ok(json!({"environment": {"MODE": "a"}}));
    assert_eq!(first.action.as_str(), "created", "{first:?}");
    assert_serves(case.port, "v1");
    let (old_id, _) = case.identity();

    let changed = case.deploy_ok(json!({"environment": {"MODE": "b"}}));
    assert_eq!(changed.action.as_str(), "replaced", "{changed:?}");
    // The keys, never the values (often secrets).
    assert_eq!(
        changed.changes["environment"],
        json!({"old": {"MODE": "<hidden, changed>"}, "new": {"MODE": "<hidden, changed>"}})
    );
    assert!(
        !changed.changes.contains_key("image"),
        "{:?}",
        changed.changes
    );
    let (new_id, started) = case.identity();
    assert_ne!(new_id, old_id);
    let env = case.inspect("{{json .Config.Env}}");
    assert!(
        env.contains("\"MODE=b\"") && !env.contains("MODE=a"),
        "{env}"
    );
    assert_eq!(case.inspect("{{.Image}}"), case.images.v1.id);
    assert_serves(case.port, "v1");
    case.assert_alone();

    let same = case.deploy_ok(json!({"environment": {"MODE": "b"}}));
    assert_eq!(same.action.as_str(), "none", "{same:?}");
    assert!(same.changes.is_empty());
    // The same intent written as Salt's list form is the same spec.
    let list_form = case.deploy_ok(json!({"environment": ["MODE=b"]}));
    assert_eq!(list_form.action.as_str(), "none", "{list_form:?}");
    assert_eq!(case.identity(), (new_id, started));
}

#[test]
fn stopped_container_is_started() {
    let case = Case::new("stopped");
    case.deploy_ok(json!({}));
    assert_serves(case.port, "v1");
    let (id, started) = case.identity();
    docker_ok(&["stop", &case.name]);
    assert!(!case.running());
    assert_eq!(
        case.inspect("{{.State.ExitCode}}"),
        "0",
        "exited on SIGTERM"
    );

    let report = case.deploy_ok(json!({}));
    assert_eq!(report.action.as_str(), "started", "{report:?}");
    assert_eq!(
        report.changes["status"],
        json!({"old": "exited", "new": "running"})
    );
    assert_eq!(report.container_id.as_deref(), Some(id.as_str()));
    let (id_now, started_now) = case.identity();
    assert_eq!(id_now, id, "the same container, not a new one");
    assert_ne!(started_now, started, "started again");
    assert!(case.running());
    assert_serves(case.port, "v1");
    case.assert_alone();
}

#[test]
fn start_failure_keeps_the_previous_container() {
    let case = Case::new("porttaken");
    case.deploy_ok(json!({}));
    assert_serves(case.port, "v1");
    let (id, _) = case.identity();

    // Port B is held for the whole call, so the new container cannot publish it.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let result = case.deploy(json!({"port_bindings": [format!("127.0.0.1:{taken}:80")]}));
    // The old container was stopped for the swap, so this is a rollback, with its report.
    match &result {
        Err(e) if e.is(ErrorKind::RolledBack) => {
            let (message, report) = (e.to_string(), e.report.as_ref().unwrap());
            assert!(
                message.contains(&case.name) && message.contains("address already in use"),
                "the message names the container and the cause: {message}"
            );
            assert_eq!(report["action"], "rolled-back");
        }
        other => panic!("expected Err(RolledBack), got {other:?}"),
    }

    assert_eq!(
        case.identity().0,
        id,
        "the original container holds the name"
    );
    assert!(case.running());
    assert_eq!(case.inspect("{{.Image}}"), case.images.v1.id);
    assert_serves(case.port, "v1");
    case.assert_alone();
    drop(holder);

    // It is restored as it was: its recorded spec is still the original one.
    let again = case.deploy_ok(json!({}));
    assert_eq!(again.action.as_str(), "none", "{again:?}");
    assert_eq!(case.identity().0, id);
}

#[test]
fn invalid_name_and_unknown_keyword_are_invalid_spec() {
    let images = images();
    let tag = &images.v1.tag;
    // "" is not in the Engine's list: to the Engine it means "pick a name for me".
    for name in ["bad name!", "-leading-dash", "x", "a/b", ""] {
        if !name.is_empty() {
            // The Engine rejects the name itself...
            let created = docker(&["create", "--name", name, "--label", &label(), tag]);
            if created.ok {
                docker(&["rm", "-f", &created.stdout]);
            }
            assert!(!created.ok, "the Engine accepted the name {name:?}");
        }
        // ... and the core refuses it before any call.
        let image = ImageRef::parse(tag).unwrap();
        match RedeployRequest::new(name, image, ContainerSpec::default(), local_tag()) {
            Err(e) if e.is(ErrorKind::InvalidSpec) => {
                assert!(e.to_string().contains("nothing was changed"), "{e}")
            }
            other => panic!("{name:?}: expected Err(InvalidSpec), got {other:?}"),
        }
        match image_diff(name, tag) {
            Err(e) if e.is(ErrorKind::InvalidSpec) => {}
            other => panic!("{name:?}: expected Err(InvalidSpec), got {other:?}"),
        }
    }

    let name = format!("ddtest-{}-badspec", run_id());
    let keywords = json!({"enviroment": {"A": "1"}, "labels": {TEST_LABEL: run_id()}});
    match ContainerSpec::from_keywords(&name, keywords.as_object().unwrap()) {
        Err(e) if e.is(ErrorKind::InvalidSpec) => {
            let msg = e.to_string();
            assert!(msg.contains("unknown keyword \"enviroment\""), "{msg}");
            assert!(msg.contains(&name), "{msg}");
        }
        other => panic!("expected Err(InvalidSpec), got {other:?}"),
    }
    assert!(
        docker_ok(&["ps", "-a", "--filter", &format!("name={name}"), "-q"]).is_empty(),
        "nothing was created"
    );
}
