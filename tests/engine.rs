//! The redeploy flow of the core against the real Docker Engine (no registry: `pull: false`, a
//! moved tag is `docker tag`). The Python suite covers pulls and the registry.
//!
//! Everything created carries the label `saltext-docker-deploy-test=rust-<pid>` and is removed by
//! guards, also when a test fails; nothing else on the engine is touched.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use docker_deploy::{
    image_diff, no_log, redeploy_container, ContainerSpec, Error, ImageRef, RedeployReport,
    RedeployRequest,
};
use serde_json::{json, Value};

fn run_id() -> String {
    format!("rust-{}", std::process::id())
}

fn label() -> String {
    format!("saltext-docker-deploy-test={}", run_id())
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("the docker CLI runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success(), text)
}

fn docker_ok(args: &[&str]) -> String {
    let (ok, text) = docker(args);
    assert!(ok, "docker {args:?} failed");
    text
}

/// Local images v1 and v2 of the busybox httpd app. Shared by the cases alive at a time and
/// removed when the last of them drops (a static would never be dropped, leaving the images).
struct Images {
    v1: String,
    v2: String,
}

impl Drop for Images {
    fn drop(&mut self) {
        docker(&["rmi", "-f", &self.v1, &self.v2]);
    }
}

fn images() -> Arc<Images> {
    static SHARED: Mutex<Weak<Images>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(images) = shared.upgrade() {
        return images;
    }
    let repo = format!("ddtest-{}/web", run_id());
    let build = |version: &str| {
        let dir = std::env::temp_dir().join(format!("dd-{}-{version}", run_id()));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox-static installed");
        std::fs::write(dir.join("www/index.html"), format!("{version}\n")).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n\
             CMD [\"/bin/busybox\",\"sh\",\"-c\",\"trap 'exit 0' TERM; /bin/busybox httpd -f -p 80 -h /www & wait\"]\n",
        )
        .unwrap();
        let tag = format!("{repo}:{version}");
        docker_ok(&[
            "build",
            "-q",
            "--label",
            &label(),
            "-t",
            &tag,
            dir.to_str().unwrap(),
        ]);
        std::fs::remove_dir_all(&dir).ok();
        tag
    };
    let images = Arc::new(Images {
        v1: build("v1"),
        v2: build("v2"),
    });
    *shared = Arc::downgrade(&images);
    images
}

/// One container under test; its drop removes the container, its helpers and its tag.
struct Case {
    name: String,
    tag: String,
    port: u16,
    images: Arc<Images>,
}

impl Case {
    fn new(test: &str) -> Self {
        let case = Case {
            name: format!("ddtest-{}-{test}", run_id()),
            tag: format!("ddtest-{}/web:prod-{test}", run_id()),
            port: free_port(),
            images: images(),
        };
        docker_ok(&["tag", &case.images.v1, &case.tag]);
        case
    }

    fn spec(&self, extra: Value) -> ContainerSpec {
        let mut keywords = json!({
            "labels": {"saltext-docker-deploy-test": run_id()},
            "port_bindings": [format!("127.0.0.1:{}:80", self.port)],
            "shutdown_timeout": 5,
        });
        keywords
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ContainerSpec::from_keywords(&self.name, keywords.as_object().unwrap()).unwrap()
    }

    fn deploy(&self, extra: Value) -> Result<RedeployReport, Error> {
        let request = RedeployRequest::new(
            &self.name,
            ImageRef::parse(&self.tag).unwrap(),
            self.spec(extra),
            false,
            None,
        )?;
        redeploy_container(&request, &no_log)
    }

    /// (ID, StartedAt, running) as `docker inspect` reports them.
    fn identity(&self) -> (String, String, bool) {
        let out = docker_ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{.State.StartedAt}} {{.State.Running}}",
            &self.name,
        ]);
        let parts: Vec<&str> = out.split(' ').collect();
        (parts[0].into(), parts[1].into(), parts[2] == "true")
    }

    /// Names of all containers that belong to this case (the name and its helpers).
    fn containers(&self) -> Vec<String> {
        let out = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("label={}", label()),
            "--format",
            "{{.Names}}",
        ]);
        let prefix = format!("{}.", self.name);
        let mut names: Vec<String> = out
            .lines()
            .filter(|n| *n == self.name || n.starts_with(&prefix))
            .map(String::from)
            .collect();
        names.sort();
        names
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let helpers = [
            self.name.clone(),
            format!("{}.deploy-new", self.name),
            format!("{}.deploy-old", self.name),
        ];
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(helpers.iter().map(String::as_str));
        docker(&args);
        docker(&["rmi", &self.tag]);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The page served on `port`, retried for a few seconds while the container starts.
fn http_body(port: u16, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            last = response
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_string();
            if last == expected {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    last
}

#[test]
fn first_deploy_creates_and_the_same_call_is_a_noop() {
    let case = Case::new("noop");
    let first = case.deploy(json!({})).unwrap();
    assert_eq!(first.action, "created");
    assert_eq!(http_body(case.port, "v1"), "v1");
    let before = case.identity();
    assert!(before.2);
    assert_eq!(first.container_id.as_deref(), Some(before.0.as_str()));

    let again = case.deploy(json!({})).unwrap();
    assert_eq!(again.action, "none");
    assert!(again.changes.is_empty());
    assert_eq!(
        case.identity(),
        before,
        "container ID and StartedAt unchanged"
    );
}

#[test]
fn moved_tag_replaces_the_container() {
    let case = Case::new("moved");
    let first = case.deploy(json!({})).unwrap();
    docker_ok(&["tag", &case.images.v2, &case.tag]);

    let diff = image_diff(&case.name, &case.tag).unwrap();
    assert!(diff.differs && diff.exists);
    assert_eq!(
        diff.container_image_id.as_deref(),
        Some(first.image_id.as_str())
    );

    let replaced = case.deploy(json!({})).unwrap();
    assert_eq!(replaced.action, "replaced");
    assert_eq!(replaced.changes["image"]["old"], json!(first.image_id));
    assert_eq!(replaced.changes["image"]["new"], json!(replaced.image_id));
    assert_ne!(replaced.image_id, first.image_id);
    assert!(replaced.downtime_ms.is_some());
    assert_eq!(http_body(case.port, "v2"), "v2");
    assert_eq!(case.containers(), vec![case.name.clone()]);
    assert_eq!(case.identity().0, replaced.container_id.clone().unwrap());
    assert!(!image_diff(&case.name, &case.tag).unwrap().differs);

    assert_eq!(case.deploy(json!({})).unwrap().action, "none");
}

#[test]
fn environment_change_replaces_then_is_stable() {
    let case = Case::new("env");
    case.deploy(json!({"environment": {"MODE": "a"}})).unwrap();
    let changed = case.deploy(json!({"environment": ["MODE=b"]})).unwrap();
    assert_eq!(changed.action, "replaced");
    assert!(changed.changes.contains_key("environment"));
    assert!(!changed.changes.contains_key("image"));
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &case.name]);
    assert!(env.contains("MODE=b") && !env.contains("MODE=a"), "{env}");
    let stable = case.deploy(json!({"environment": {"MODE": "b"}})).unwrap();
    assert_eq!(stable.action, "none");
}

#[test]
fn stopped_container_is_started() {
    let case = Case::new("stopped");
    let first = case.deploy(json!({})).unwrap();
    docker_ok(&["stop", &case.name]);
    assert!(!case.identity().2);
    let started = case.deploy(json!({})).unwrap();
    assert_eq!(started.action, "started");
    let (id, _, running) = case.identity();
    assert!(running);
    assert_eq!(Some(id), first.container_id);
    assert_eq!(http_body(case.port, "v1"), "v1");
}

#[test]
fn start_failure_restores_the_previous_container() {
    let case = Case::new("porttaken");
    case.deploy(json!({})).unwrap();
    let before = case.identity();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();

    let err = case
        .deploy(json!({"port_bindings": [format!("127.0.0.1:{taken}:80")]}))
        .unwrap_err();
    match &err {
        Error::ContainerStart(msg) => {
            assert!(msg.contains(&case.name), "{msg}");
            assert!(msg.contains("restored"), "{msg}");
        }
        other => panic!("expected ContainerStart, got {other:?}"),
    }
    drop(holder);
    let (id, _, running) = case.identity();
    assert_eq!(id, before.0, "the original container holds the name");
    assert!(running);
    assert_eq!(http_body(case.port, "v1"), "v1");
    assert_eq!(case.containers(), vec![case.name.clone()]);
}

#[test]
fn bad_name_and_unknown_keyword_are_invalid_spec() {
    let image = ImageRef::parse("busybox").unwrap();
    let err = RedeployRequest::new("bad name!", image, ContainerSpec::default(), false, None)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSpec(_)), "{err}");
    let keywords = json!({"enviroment": {"A": "1"}});
    let err = ContainerSpec::from_keywords("web", keywords.as_object().unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidSpec(m) if m.contains("enviroment")),
        "{err}"
    );
}
