//! The Python face, `saltext.docker_deploy._core`: argument conversion, the GIL released around
//! every Docker call, core errors mapped to one exception hierarchy, step lines to `logging`.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::deploy::request::{validate_container_name, RedeployRequest};
use crate::error::{Error, ErrorKind};
use crate::image::refresh::Pinned;
use crate::image::refresh::PullPolicy;
use crate::options::{Call, NamePattern, Options};
use crate::reference::ImageRef;
use crate::spec::ContainerSpec;

/// The exception classes, one per row of the table in [`crate::error`], created under the
/// public module path so that `repr` and tracebacks show `saltext.docker_deploy.ImageNotFound`,
/// the name users import.
macro_rules! python_exceptions {
    ($( $(#[$meta:meta])* $kind:ident => $exception:ident($base:ident), $doc:literal; )*) => {
        $( create_exception!(saltext.docker_deploy, $exception, $base, $doc); )*

        /// The exception of a kind of error, saying `message`.
        fn exception_for(kind: ErrorKind, message: String) -> PyErr {
            match kind {
                $( ErrorKind::$kind => $exception::new_err(message), )*
            }
        }

        fn add_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            $( m.add(stringify!($exception), py.get_type::<$exception>())?; )*
            Ok(())
        }
    };
}
crate::error::error_kinds!(python_exceptions);

/// The one place core errors become Python exceptions.
fn to_py_err(err: Error) -> PyErr {
    let message = err.to_string();
    let exception = exception_for(err.kind, message);
    Python::attach(|py| {
        // The report rides on the exception, as `err.report`; a rate limit as `err.retry_after`.
        if let Some(report) = &err.report {
            if let Ok(report) = to_py(py, report) {
                let _ = exception.value(py).setattr("report", report);
            }
        }
        if err.kind == ErrorKind::Registry {
            let value = exception.value(py);
            let _ = value.setattr("rate_limited", err.rate_limit.is_some());
            let retry_after = err
                .rate_limit
                .and_then(|limit| limit.retry_after)
                .map(|after| after.as_secs_f64());
            let _ = value.setattr("retry_after", retry_after);
        }
    });
    exception
}

fn invalid(message: String) -> PyErr {
    InvalidSpec::new_err(message)
}

/// How deep arguments may nest: real settings nest four levels (`networks` -> a network ->
/// `aliases` -> a name); a self-referencing list would otherwise recurse until the interpreter
/// crashed.
const MAX_DEPTH: usize = 16;

/// Python values (as Salt hands them over from YAML) to JSON. Integer dict keys, as YAML gives
/// for `port_bindings: {80: 8080}`, become strings. A value never appears in an error: it may
/// be a secret (an `environment` value, a password).
fn to_json(what: &str, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "{what}: nested deeper than {MAX_DEPTH} levels; nothing was changed"
        )));
    }
    if obj.is_none() {
        Ok(Value::Null)
    } else if obj.is_instance_of::<PyBool>() {
        Ok(Value::Bool(obj.extract()?))
    } else if obj.is_instance_of::<PyInt>() {
        match (obj.extract::<i64>(), obj.extract::<u64>()) {
            (Ok(n), _) => Ok(Value::from(n)),
            (_, Ok(n)) => Ok(Value::from(n)),
            _ => Err(invalid(format!(
                "{what}: an integer is out of range (more than 64 bits); nothing was changed"
            ))),
        }
    } else if obj.is_instance_of::<PyFloat>() {
        // JSON has no NaN or infinity (serde_json would make them null: "not given").
        let number = obj.extract::<f64>()?;
        serde_json::Number::from_f64(number)
            .map(Value::Number)
            .ok_or_else(|| {
                invalid(format!(
                    "{what}: {number} is not a finite number; nothing was changed"
                ))
            })
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
            map.insert(key, to_json(what, &value, depth + 1)?);
        }
        Ok(Value::Object(map))
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        obj.try_iter()?
            .map(|item| to_json(what, &item?, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array)
    } else {
        Err(invalid(format!(
            "{what}: values of type {} are not supported; nothing was changed",
            obj.get_type().name()?
        )))
    }
}

/// Keyword arguments as JSON, each converted on its own (so an error names the keyword).
fn keywords(context: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Map<String, Value>> {
    let mut map = Map::new();
    for (keyword, value) in kwargs.into_iter().flat_map(|k| k.iter()) {
        let keyword: String = keyword.extract().map_err(|_| {
            invalid(format!(
                "{context}: keywords must be strings, got {}; nothing was changed",
                keyword
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let what = format!("{context}: {keyword}");
        let value = to_json(&what, &value, 0)?;
        map.insert(keyword, value);
    }
    Ok(map)
}

/// A string argument (`name`, `image`), or `InvalidSpec` naming it.
fn text_arg(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_string()),
        Err(_) => Err(invalid(format!(
            "{what} must be a string, got {}; nothing was changed",
            obj.get_type().name()?
        ))),
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

/// The text of a panic, for the error that replaces it.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// A panic in the core, as the `DeployError` it must reach Python as: pyo3 would raise
/// `PanicException`, a `BaseException` that escapes Salt's `except Exception`.
fn panicked(context: &str, payload: &(dyn std::any::Any + Send)) -> PyErr {
    DeployError::new_err(format!(
        "{context}: internal error in saltext-docker-deploy ({}); this is a bug. Containers \
         may have been left mid-redeploy: the next run recovers them",
        panic_text(payload)
    ))
}

/// Runs a function body, turning a panic into [`panicked`].
fn guarded<T>(context: &str, body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(panicked(context, payload.as_ref())),
    }
}

/// Runs one core operation with the GIL released and its step lines going to `logging`, and
/// returns its report as a dict.
fn run_logged<R: Serialize + Send>(
    py: Python<'_>,
    context: &str,
    operation: impl FnOnce(crate::LogSink) -> crate::Result<R> + Send,
) -> PyResult<Py<PyAny>> {
    let logger = StepLogger::new(py)?;
    let sink = |line: &str| logger.log(line);
    let outcome =
        py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| operation(&sink))));
    let report = match outcome {
        Ok(result) => result.map_err(to_py_err)?,
        Err(payload) => return Err(panicked(context, payload.as_ref())),
    };
    report_to_py(py, &report)
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

/// The options of `call`, from its keyword arguments (any other is refused by name).
fn options_of(context: &str, call: Call, given: &Map<String, Value>) -> PyResult<Options> {
    Options::parse(context, call, given).map_err(to_py_err)
}

/// Parses everything a redeploy needs, before the first Docker call: the options from the
/// table in [`crate::options`], every other keyword as a container setting.
fn parse_request(
    name: &str,
    image: &str,
    call: Call,
    keywords: Map<String, Value>,
) -> PyResult<(RedeployRequest, Option<u32>)> {
    // The name first: every later message quotes it.
    validate_container_name(name).map_err(to_py_err)?;
    let context = format!("container {name:?}");
    let (options, settings) = crate::options::split(keywords);
    let options = options_of(&context, call, &options)?;
    let spec = ContainerSpec::from_keywords(name, &settings).map_err(to_py_err)?;
    let image = ImageRef::parse(image).map_err(to_py_err)?;
    let replicas = options.replicas;
    let request = RedeployRequest::new(name, image, spec, options).map_err(to_py_err)?;
    request.validate().map_err(to_py_err)?;
    Ok((request, replicas))
}

/// Pull `image` and report whether the local tag's image ID moved.
#[pyfunction]
#[pyo3(signature = (image, **options))]
fn pull(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("pull", || {
        let image = text_arg("image", image)?;
        let context = format!("image {image:?}");
        let parsed = options_of(&context, Call::Pull, &keywords(&context, options)?)?;
        run_logged(py, &context, |sink| {
            crate::pull_image(&image, parsed.auth.as_ref(), parsed.pull_timeout, sink)
        })
    })
}

/// Compare container `name` with the local tag of `image`. Read only.
#[pyfunction]
fn image_diff(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    image: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    guarded("image_diff", || {
        let (name, image) = (text_arg("name", name)?, text_arg("image", image)?);
        run_logged(py, &format!("container {name:?}"), |_| {
            crate::image_diff(&name, &image)
        })
    })
}

/// The redeploy (or its dry run) of one container, or of its replicas.
fn run_redeploy(
    py: Python<'_>,
    context: &str,
    request: &RedeployRequest,
    replicas: Option<u32>,
) -> PyResult<Py<PyAny>> {
    match replicas {
        Some(count) => run_logged(py, context, |sink| {
            crate::redeploy_replicas(request, count, sink)
        }),
        None => run_logged(py, context, |sink| crate::redeploy_container(request, sink)),
    }
}

/// Pull, compare and, only when the image ID or the declared spec differs, replace the
/// container, health-gated, rolling back when the new one fails. With `replicas=N`, keep
/// `name-1` .. `name-N` so, one at a time; with `dry_run=True`, say what would be done and
/// change nothing. Options are those of [`crate::options`]; every other keyword is a
/// container setting.
#[pyfunction]
#[pyo3(signature = (name, image, **kwargs))]
fn redeploy(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    image: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("redeploy", || {
        let (name, image) = (text_arg("name", name)?, text_arg("image", image)?);
        validate_container_name(&name).map_err(to_py_err)?;
        let context = format!("container {name:?}");
        let given = keywords(&context, kwargs)?;
        let (request, replicas) = parse_request(&name, &image, Call::Redeploy, given)?;
        run_redeploy(py, &context, &request, replicas)
    })
}

/// One entry of `redeploy_group`: `{name, image, ...options, ...settings}`; `dry_run` is the
/// group's.
fn group_request(
    index: usize,
    entry: &Bound<'_, PyAny>,
    dry_run: bool,
) -> PyResult<RedeployRequest> {
    let entry = entry.cast::<PyDict>().map_err(|_| {
        invalid(format!(
            "containers: entry {} is not a dict with name and image; nothing was changed",
            index + 1
        ))
    })?;
    let field = |key: &str| -> PyResult<String> {
        match entry.get_item(key)? {
            Some(v) => text_arg(&format!("containers: entry {}: {key}", index + 1), &v),
            None => Err(invalid(format!(
                "containers: entry {} has no {key}; nothing was changed",
                index + 1
            ))),
        }
    };
    let (name, image) = (field("name")?, field("image")?);
    validate_container_name(&name).map_err(to_py_err)?;
    let context = format!("container {name:?}");
    let mut given = keywords(&context, Some(entry))?;
    given.remove("name");
    given.remove("image");
    let (mut request, _) = parse_request(&name, &image, Call::GroupEntry, given)?;
    request.dry_run |= dry_run;
    Ok(request)
}

/// Redeploy several containers at once (up to `concurrency` in flight), each verified and
/// rolled back on its own. Returns one entry per container, in order:
/// `{name, report, error, message}`. With `dry_run=True`, says what would be done.
#[pyfunction]
#[pyo3(signature = (containers, **options))]
fn redeploy_group(
    py: Python<'_>,
    containers: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("redeploy_group", || {
        let entries = containers.cast::<PyList>().map_err(|_| {
            invalid("containers must be a list of dicts; nothing was changed".into())
        })?;
        let group = options_of("group", Call::Group, &keywords("group", options)?)?;
        let requests = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| group_request(index, &entry, group.dry_run))
            .collect::<PyResult<Vec<_>>>()?;
        run_logged(py, "group", |sink| {
            crate::redeploy_group(&requests, group.concurrency, sink)
        })
    })
}

/// Go back to the image that ran under `name` before its last redeploy, verified.
#[pyfunction]
#[pyo3(signature = (name, **options))]
fn rollback(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("rollback", || {
        let name = text_arg("name", name)?;
        validate_container_name(&name).map_err(to_py_err)?;
        let context = format!("container {name:?}");
        let parsed = options_of(&context, Call::Rollback, &keywords(&context, options)?)?;
        run_logged(py, &context, |sink| {
            crate::rollback_container(&name, parsed, sink)
        })
    })
}

/// What `redeploy` would do: `redeploy(..., dry_run=True)`. `image_id`: deploy that image
/// instead of asking for the tag's (the image the tag is about to point at).
#[pyfunction]
#[pyo3(signature = (name, image, *, image_id=None, **kwargs))]
fn preview(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    image: &Bound<'_, PyAny>,
    image_id: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("preview", || {
        let (name, image) = (text_arg("name", name)?, text_arg("image", image)?);
        let pinned = match image_id.filter(|v| !v.is_none()) {
            Some(id) => Some(text_arg("image_id", id)?),
            None => None,
        };
        validate_container_name(&name).map_err(to_py_err)?;
        let context = format!("container {name:?}");
        let mut given = keywords(&context, kwargs)?;
        given.insert("dry_run".into(), Value::Bool(true));
        let (mut request, replicas) = parse_request(&name, &image, Call::Redeploy, given)?;
        request.pinned = pinned.map(|id| Pinned::Image { id, digest: None });
        run_redeploy(py, &context, &request, replicas)
    })
}

/// Ask the registry, without pulling, whether a pull would change the local tag.
#[pyfunction]
#[pyo3(signature = (image, **options))]
fn check(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("check", || {
        let image = text_arg("image", image)?;
        let context = format!("image {image:?}");
        let parsed = options_of(&context, Call::Check, &keywords(&context, options)?)?;
        run_logged(py, &context, |sink| {
            crate::check_image(&image, parsed.auth.as_ref(), sink)
        })
    })
}

/// The digest the registry holds for `image`'s tag, nothing pulled (a fleet rollout pins it
/// once for every minion): `{image, digest, reference, via}`.
#[pyfunction]
#[pyo3(signature = (image, **options))]
fn resolve(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("resolve", || {
        let image = text_arg("image", image)?;
        let context = format!("image {image:?}");
        let parsed = options_of(&context, Call::Check, &keywords(&context, options)?)?;
        run_logged(py, &context, |_| {
            crate::resolve_digest(&image, parsed.auth.as_ref())
        })
    })
}

/// Stop and remove the container `name` (and what an interrupted redeploy of it left), if
/// there is one, under its lock; with `dry_run=True`, say what would be removed.
#[pyfunction]
#[pyo3(signature = (name, **options))]
fn remove(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("remove", || {
        let name = text_arg("name", name)?;
        validate_container_name(&name).map_err(to_py_err)?;
        let context = format!("container {name:?}");
        let parsed = options_of(&context, Call::Remove, &keywords(&context, options)?)?;
        run_logged(py, &context, |sink| {
            crate::remove_container(&name, parsed.lock_timeout, parsed.dry_run, sink)
        })
    })
}

/// Every container this tool keeps on the Engine: `{name, image, digest, image_id,
/// container_id, status, replica_of, adopted}`, by name; with `names`, those whose names match
/// one of these patterns (as `update` takes them). Read only.
#[pyfunction]
#[pyo3(signature = (names=None))]
fn managed(py: Python<'_>, names: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
    guarded("managed", || {
        let patterns = match names.filter(|n| !n.is_none()) {
            Some(names) => {
                let value = to_json("names", names, 0)?;
                let bad = crate::input::Invalid {
                    context: "containers",
                };
                Some(NamePattern::parse_list(&bad, "names", &value).map_err(to_py_err)?)
            }
            None => None,
        };
        run_logged(py, "containers", |_| {
            let all = crate::managed_containers()?;
            Ok(all
                .into_iter()
                .filter(|m| {
                    patterns
                        .as_ref()
                        .is_none_or(|p| p.iter().any(|p| p.matches(&m.name)))
                })
                .collect::<Vec<_>>())
        })
    })
}

/// Redeploy every container on this host that follows `image`, from its record (its
/// declaration and options as last deployed), through the verified path; `{name, report,
/// error, message}` per container, none when no container follows the image.
#[pyfunction]
#[pyo3(signature = (image, **options))]
fn update(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("update", || {
        let image = text_arg("image", image)?;
        let context = format!("image {image:?}");
        let mut given = keywords(&context, options)?;
        let parsed = options_of(&context, Call::Update, &given)?;
        // The update's own options; the rest go to each container's redeploy.
        for own in ["concurrency", "events", "names"] {
            given.remove(own);
        }
        let scope = crate::deploy::update::Scope {
            names: parsed.names.as_deref(),
            concurrency: parsed.concurrency,
        };
        run_logged(py, &context, |sink| {
            crate::update_containers(&image, &given, &scope, sink)
        })
    })
}

/// The table of options as Python sees it: one dict per option, its default a Python value.
fn option_table(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = PyList::empty(py);
    for row in crate::options::TABLE {
        let default: Value = serde_json::from_str(row.default)
            .map_err(|e| DeployError::new_err(format!("option {}: {e}", row.name)))?;
        let dict = PyDict::new(py);
        dict.set_item("name", row.name)?;
        dict.set_item("type", row.kind)?;
        dict.set_item("default", to_py(py, &default)?)?;
        dict.set_item("doc", row.doc)?;
        let calls: Vec<&str> = row.calls.iter().map(|c| c.as_str()).collect();
        dict.set_item("calls", calls)?;
        rows.append(dict)?;
    }
    Ok(rows)
}

/// The table of keywords: `{name, aliases, accepts, lands, doc}`, in the record's order.
fn spec_table(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = PyList::empty(py);
    for keyword in crate::spec::keywords::KEYWORDS {
        let dict = PyDict::new(py);
        dict.set_item("name", keyword.name)?;
        dict.set_item("aliases", keyword.aliases.to_vec())?;
        dict.set_item("accepts", keyword.accepts)?;
        dict.set_item("lands", keyword.lands.describe())?;
        dict.set_item("doc", keyword.doc)?;
        rows.append(dict)?;
    }
    Ok(rows)
}

/// The table of exceptions: `{name, base, doc}`, the base first.
fn exception_table(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = PyList::empty(py);
    for kind in ErrorKind::ALL {
        let dict = PyDict::new(py);
        dict.set_item("name", kind.exception())?;
        dict.set_item("base", kind.base().trim_start_matches("Py"))?;
        dict.set_item("doc", kind.doc())?;
        rows.append(dict)?;
    }
    Ok(rows)
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
    m.add_function(wrap_pyfunction!(managed, m)?)?;
    m.add_function(wrap_pyfunction!(update, m)?)?;
    m.add_function(wrap_pyfunction!(resolve, m)?)?;
    add_exceptions(m)?;
    m.add("STRATEGIES", crate::options::Strategy::NAMES.to_vec())?;
    m.add("PULL_POLICIES", PullPolicy::NAMES.to_vec())?;
    m.add("SPEC_KEYWORDS", crate::spec::keywords::names())?;
    m.add("OPTIONS", crate::options::names_for(Call::Redeploy))?;
    m.add("OPTION_TABLE", option_table(py)?)?;
    m.add("EXCEPTIONS", exception_table(py)?)?;
    m.add("SPEC_TABLE", spec_table(py)?)?;
    Ok(())
}
