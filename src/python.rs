//! The Python face, `saltext.docker_deploy._core`: argument conversion, the GIL released around
//! every Docker call, core errors mapped to one exception hierarchy, step lines to `logging`.

use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::converge::Strategy;
use crate::error::Error;
use crate::pull::{Auth, PullPolicy};
use crate::redeploy::{RedeployRequest, RollbackOptions, Verification};
use crate::reference::ImageRef;
use crate::spec::ContainerSpec;

// Created under the public module path so that `repr` and tracebacks show
// `saltext.docker_deploy.ImageNotFound`, the name users import.
create_exception!(
    saltext.docker_deploy,
    DeployError,
    PyException,
    "Base of every error of saltext-docker-deploy."
);
create_exception!(
    saltext.docker_deploy,
    DockerUnavailable,
    DeployError,
    "The Docker Engine could not be reached."
);
create_exception!(
    saltext.docker_deploy,
    ImageNotFound,
    DeployError,
    "The image or tag does not exist locally or in the registry."
);
create_exception!(
    saltext.docker_deploy,
    RegistryError,
    DeployError,
    "The registry failed, was unreachable or refused the credentials."
);
create_exception!(
    saltext.docker_deploy,
    InvalidSpec,
    DeployError,
    "A bad argument; raised before any Docker call."
);
create_exception!(
    saltext.docker_deploy,
    ContainerStartError,
    DeployError,
    "The new container could not be created, started or verified; the previous one was restored."
);
create_exception!(
    saltext.docker_deploy,
    RolledBack,
    ContainerStartError,
    "The new container failed verification and the previous one runs again; `.report` has the details."
);
create_exception!(
    saltext.docker_deploy,
    LockTimeout,
    DeployError,
    "Another redeploy of the same container held the host lock past `lock_timeout`."
);

/// The one place core errors become Python exceptions.
fn to_py_err(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::RolledBack { report, .. } => Python::attach(|py| {
            let err = RolledBack::new_err(message);
            // The report rides on the exception, as `err.report`.
            if let Ok(report) = to_py(py, &report) {
                let _ = err.value(py).setattr("report", report);
            }
            err
        }),
        Error::LockTimeout(_) => LockTimeout::new_err(message),
        Error::DockerUnavailable(_) => DockerUnavailable::new_err(message),
        Error::ImageNotFound(_) => ImageNotFound::new_err(message),
        Error::Registry(_) => RegistryError::new_err(message),
        Error::InvalidSpec(_) => InvalidSpec::new_err(message),
        Error::ContainerStart(_) => ContainerStartError::new_err(message),
        Error::Docker(_) => DeployError::new_err(message),
    }
}

fn invalid(message: String) -> PyErr {
    InvalidSpec::new_err(message)
}

/// Python values (as Salt hands them over from YAML) to JSON. Integer dict keys, as YAML gives
/// for `port_bindings: {80: 8080}`, become strings.
fn to_json(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if obj.is_instance_of::<PyBool>() {
        Ok(Value::Bool(obj.extract()?))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(n) = obj.extract::<i64>() {
            Ok(Value::from(n))
        } else {
            Err(invalid(format!(
                "{what}: integer {obj} is out of range; nothing was changed"
            )))
        }
    } else if obj.is_instance_of::<PyFloat>() {
        Ok(Value::from(obj.extract::<f64>()?))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_str()?.to_string()))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let key = if key.is_instance_of::<PyString>() || key.is_instance_of::<PyInt>() {
                key.str()?.to_str()?.to_string()
            } else {
                return Err(invalid(format!(
                    "{what}: dict keys must be strings, got {}; nothing was changed",
                    key.get_type().name()?
                )));
            };
            map.insert(key, to_json(what, &value)?);
        }
        Ok(Value::Object(map))
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        obj.try_iter()?
            .map(|item| to_json(what, &item?))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array)
    } else {
        Err(invalid(format!(
            "{what}: values of type {} are not supported; nothing was changed",
            obj.get_type().name()?
        )))
    }
}

fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

fn report_to_py(py: Python<'_>, report: &impl Serialize) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(report)
        .map_err(|e| DeployError::new_err(format!("could not convert the report: {e}")))?;
    Ok(to_py(py, &value)?.unbind())
}

/// Runs one core operation with the GIL released and its step lines going to `logging`, and
/// returns its report as a dict.
fn run_logged<R: Serialize + Send>(
    py: Python<'_>,
    operation: impl FnOnce(crate::LogSink) -> crate::Result<R> + Send,
) -> PyResult<Py<PyAny>> {
    let logger = StepLogger::new(py)?;
    let sink = |line: &str| logger.log(line);
    let report = py.detach(|| operation(&sink)).map_err(to_py_err)?;
    report_to_py(py, &report)
}

fn parse_auth(auth: Option<&Bound<'_, PyDict>>) -> PyResult<Option<Auth>> {
    let Some(auth) = auth else { return Ok(None) };
    let mut parsed = Auth::default();
    for (key, value) in auth.iter() {
        let key: String = key.extract()?;
        let text: Option<String> = value.extract().map_err(|_| {
            invalid(format!(
                "auth: {key:?} must be a string; nothing was changed"
            ))
        })?;
        match key.as_str() {
            "username" => parsed.username = text,
            "password" => parsed.password = text,
            "identitytoken" | "identity_token" => parsed.identity_token = text,
            // The registry comes from the image reference; accepted for Salt's pillar layout.
            "serveraddress" | "email" => {}
            _ => {
                return Err(invalid(format!(
                    "auth: unknown key {key:?} (known: username, password, identitytoken); \
                     nothing was changed"
                )))
            }
        }
    }
    Ok(Some(parsed))
}

/// Forwards the core's step lines to `logging.getLogger("saltext.docker_deploy")` at INFO.
struct StepLogger(Py<PyAny>);

impl StepLogger {
    fn new(py: Python<'_>) -> PyResult<Self> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("saltext.docker_deploy",))?;
        Ok(StepLogger(logger.unbind()))
    }

    fn log(&self, line: &str) {
        Python::attach(|py| {
            // A failing log handler must not fail a deploy half-way.
            let _ = self.0.bind(py).call_method1("info", ("%s", line));
        });
    }
}

/// Pull `image` and report whether the local tag's image ID moved.
#[pyfunction]
#[pyo3(signature = (image, *, auth=None))]
fn pull(py: Python<'_>, image: &str, auth: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
    let auth = parse_auth(auth)?;
    run_logged(py, |sink| crate::pull_image(image, auth.as_ref(), sink))
}

/// Compare container `name` with the local tag of `image`. Read only.
#[pyfunction]
fn image_diff(py: Python<'_>, name: &str, image: &str) -> PyResult<Py<PyAny>> {
    run_logged(py, |_| crate::image_diff(name, image))
}

/// How a redeploy goes, beyond what is deployed.
struct Options {
    pull_policy: Option<PullPolicy>,
    strategy: Strategy,
    verification: Verification,
    rollback: bool,
    lock_timeout: Duration,
    keep_images: Option<u32>,
}

fn seconds(what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        invalid(format!(
            "{what} must be a number of seconds >= 0, got {value}; nothing was changed"
        ))
    })
}

impl Options {
    fn parse(
        strategy: &str,
        health_timeout: f64,
        min_uptime: f64,
        rollback: bool,
        lock_timeout: f64,
        keep_images: Option<u32>,
    ) -> PyResult<Options> {
        Ok(Options {
            pull_policy: None,
            strategy: Strategy::parse(strategy).map_err(to_py_err)?,
            verification: Verification {
                health_timeout: seconds("health_timeout", health_timeout)?,
                min_uptime: seconds("min_uptime", min_uptime)?,
            },
            rollback,
            lock_timeout: seconds("lock_timeout", lock_timeout)?,
            keep_images,
        })
    }
}

/// Parses everything a redeploy needs, before the first Docker call.
fn parse_request(
    name: &str,
    image: &str,
    pull: bool,
    force: bool,
    auth: Option<&Bound<'_, PyDict>>,
    spec: Option<&Bound<'_, PyDict>>,
    options: Options,
) -> PyResult<RedeployRequest> {
    let mut keywords = Map::new();
    for (keyword, value) in spec.into_iter().flat_map(|spec| spec.iter()) {
        let keyword: String = keyword.extract()?;
        let what = format!("container {name:?}: {keyword}");
        keywords.insert(keyword, to_json(&what, &value)?);
    }
    let parsed_spec = ContainerSpec::from_keywords(name, &keywords).map_err(to_py_err)?;
    let image = ImageRef::parse(image).map_err(to_py_err)?;
    let mut request = RedeployRequest::new(name, image, parsed_spec, pull, parse_auth(auth)?)
        .map_err(to_py_err)?;
    request.force = force;
    if let (true, Some(policy)) = (pull, options.pull_policy) {
        request.pull_policy = policy;
    }
    request.strategy = options.strategy;
    request.verification = options.verification;
    request.rollback = options.rollback;
    request.lock_timeout = options.lock_timeout;
    request.keep_images = options.keep_images;
    Ok(request)
}

/// Pull, compare and, only when the image ID or the declared spec differs, replace the
/// container, health-gated, rolling back when the new one fails. With `replicas=N`, keep
/// `name-1` .. `name-N` so, one at a time.
#[pyfunction]
#[pyo3(signature = (
    name, image, *, pull=true, pull_policy=None, force=false, auth=None,
    strategy="create-first", health_timeout=60.0, min_uptime=2.0, rollback=true,
    lock_timeout=300.0, keep_images=None, replicas=None, **spec
))]
#[allow(clippy::too_many_arguments)]
fn redeploy(
    py: Python<'_>,
    name: &str,
    image: &str,
    pull: bool,
    pull_policy: Option<&str>,
    force: bool,
    auth: Option<&Bound<'_, PyDict>>,
    strategy: &str,
    health_timeout: f64,
    min_uptime: f64,
    rollback: bool,
    lock_timeout: f64,
    keep_images: Option<u32>,
    replicas: Option<u32>,
    spec: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let mut options = Options::parse(
        strategy,
        health_timeout,
        min_uptime,
        rollback,
        lock_timeout,
        keep_images,
    )?;
    options.pull_policy = pull_policy
        .map(PullPolicy::parse)
        .transpose()
        .map_err(to_py_err)?;
    let request = parse_request(name, image, pull, force, auth, spec, options)?;
    match replicas {
        Some(count) => run_logged(py, |sink| crate::redeploy_replicas(&request, count, sink)),
        None => run_logged(py, |sink| crate::redeploy_container(&request, sink)),
    }
}

/// The keys of a group entry that are options, not container settings.
const GROUP_OPTIONS: &[&str] = &[
    "name",
    "image",
    "pull",
    "pull_policy",
    "force",
    "auth",
    "strategy",
    "health_timeout",
    "min_uptime",
    "rollback",
    "lock_timeout",
    "keep_images",
];

/// One entry of `redeploy_group`: `{name, image, ...options, ...settings}`.
fn group_request(entry: &Bound<'_, PyAny>) -> PyResult<RedeployRequest> {
    let entry = entry.cast::<PyDict>().map_err(|_| {
        invalid(
            "containers: every entry must be a dict with name and image; nothing was changed"
                .into(),
        )
    })?;
    let get = |key: &str| entry.get_item(key);
    let name: String = match get("name")? {
        Some(v) => v.extract()?,
        None => {
            return Err(invalid(
                "containers: an entry has no name; nothing was changed".into(),
            ))
        }
    };
    let image: String = match get("image")? {
        Some(v) => v.extract()?,
        None => {
            return Err(invalid(format!(
                "container {name:?}: no image; nothing was changed"
            )))
        }
    };
    let spec = PyDict::new(entry.py());
    for (key, value) in entry.iter() {
        let key: String = key.extract()?;
        if key == "replicas" {
            return Err(invalid(format!(
                "container {name:?}: replicas is not supported inside a group; nothing was changed"
            )));
        }
        if !GROUP_OPTIONS.contains(&key.as_str()) {
            spec.set_item(key, value)?;
        }
    }
    let option = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(get(key)?.filter(|v| !v.is_none()))
    };
    let number = |key: &str, default: f64| -> PyResult<f64> {
        option(key)?.map_or(Ok(default), |v| v.extract())
    };
    let text = |key: &str, default: &str| -> PyResult<String> {
        option(key)?.map_or(Ok(default.to_string()), |v| v.extract())
    };
    let flag = |key: &str, default: bool| -> PyResult<bool> {
        option(key)?.map_or(Ok(default), |v| v.extract())
    };
    let mut options = Options::parse(
        &text("strategy", "create-first")?,
        number("health_timeout", 60.0)?,
        number("min_uptime", 2.0)?,
        flag("rollback", true)?,
        number("lock_timeout", 300.0)?,
        option("keep_images")?.map(|v| v.extract()).transpose()?,
    )?;
    options.pull_policy = option("pull_policy")?
        .map(|v| v.extract::<String>())
        .transpose()?
        .map(|p| PullPolicy::parse(&p))
        .transpose()
        .map_err(to_py_err)?;
    let auth = option("auth")?;
    let auth = auth
        .as_ref()
        .map(|a| a.cast::<PyDict>())
        .transpose()
        .map_err(|_| {
            invalid(format!(
                "container {name:?}: auth must be a dict; nothing was changed"
            ))
        })?;
    parse_request(
        &name,
        &image,
        flag("pull", true)?,
        flag("force", false)?,
        auth,
        Some(&spec),
        options,
    )
}

/// Redeploy several containers at once (up to `concurrency` in flight), each verified and
/// rolled back on its own. Returns one entry per container, in order:
/// `{name, report, error, message}`.
#[pyfunction]
#[pyo3(signature = (containers, *, concurrency=4))]
fn redeploy_group(
    py: Python<'_>,
    containers: &Bound<'_, PyList>,
    concurrency: usize,
) -> PyResult<Py<PyAny>> {
    let requests = containers
        .iter()
        .map(|entry| group_request(&entry))
        .collect::<PyResult<Vec<_>>>()?;
    run_logged(py, |sink| {
        crate::redeploy_group(&requests, concurrency, sink)
    })
}

/// Go back to the image that ran under `name` before its last redeploy, verified.
#[pyfunction]
#[pyo3(signature = (
    name, *, strategy="create-first", health_timeout=60.0, min_uptime=2.0, lock_timeout=300.0
))]
fn rollback(
    py: Python<'_>,
    name: &str,
    strategy: &str,
    health_timeout: f64,
    min_uptime: f64,
    lock_timeout: f64,
) -> PyResult<Py<PyAny>> {
    let parsed = Options::parse(
        strategy,
        health_timeout,
        min_uptime,
        true,
        lock_timeout,
        None,
    )?;
    let options = RollbackOptions {
        strategy: parsed.strategy,
        verification: parsed.verification,
        lock_timeout: parsed.lock_timeout,
    };
    run_logged(py, |sink| crate::rollback_container(name, options, sink))
}

/// What `redeploy` would do, read only: no pull, no container created, started or stopped.
#[pyfunction]
#[pyo3(signature = (
    name, image, *, image_id=None, force=false, strategy="create-first", replicas=None, **spec
))]
#[allow(clippy::too_many_arguments)]
fn preview(
    py: Python<'_>,
    name: &str,
    image: &str,
    image_id: Option<String>,
    force: bool,
    strategy: &str,
    replicas: Option<u32>,
    spec: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let options = Options::parse(strategy, 60.0, 2.0, true, 300.0, None)?;
    let request = parse_request(name, image, false, force, None, spec, options)?;
    let assume = image_id.as_deref();
    match replicas {
        Some(count) => run_logged(py, |sink| {
            crate::preview_replicas(&request, count, assume, sink)
        }),
        None => run_logged(py, |sink| {
            request.validate()?;
            crate::preview_redeploy(&request, assume, sink)
        }),
    }
}

/// Ask the registry, without pulling, whether a pull would change the local tag.
#[pyfunction]
#[pyo3(signature = (image, *, auth=None))]
fn check(py: Python<'_>, image: &str, auth: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
    let auth = parse_auth(auth)?;
    run_logged(py, |sink| crate::check_image(image, auth.as_ref(), sink))
}

/// Stop and remove the container `name`, if there is one.
#[pyfunction]
fn remove(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    run_logged(py, |sink| crate::remove_container(name, sink))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(pull, m)?)?;
    m.add_function(wrap_pyfunction!(image_diff, m)?)?;
    m.add_function(wrap_pyfunction!(redeploy, m)?)?;
    m.add_function(wrap_pyfunction!(preview, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(remove, m)?)?;
    m.add_function(wrap_pyfunction!(rollback, m)?)?;
    m.add_function(wrap_pyfunction!(redeploy_group, m)?)?;
    m.add("DeployError", py.get_type::<DeployError>())?;
    m.add("DockerUnavailable", py.get_type::<DockerUnavailable>())?;
    m.add("ImageNotFound", py.get_type::<ImageNotFound>())?;
    m.add("RegistryError", py.get_type::<RegistryError>())?;
    m.add("InvalidSpec", py.get_type::<InvalidSpec>())?;
    m.add("ContainerStartError", py.get_type::<ContainerStartError>())?;
    m.add("RolledBack", py.get_type::<RolledBack>())?;
    m.add("LockTimeout", py.get_type::<LockTimeout>())?;
    m.add("STRATEGIES", crate::converge::Strategy::NAMES.to_vec())?;
    m.add("PULL_POLICIES", PullPolicy::NAMES.to_vec())?;
    m.add("SPEC_KEYWORDS", crate::spec::KEYWORDS.to_vec())?;
    Ok(())
}
