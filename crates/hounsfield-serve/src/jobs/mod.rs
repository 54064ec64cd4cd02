//! Pipeline jobs on stored series, run one at a time on a worker thread (each job is itself
//! parallel), off the HTTP threads: convert to NIfTI, a classical brain mask with its surface,
//! an isosurface, CT tissue label surfaces. Outputs go to `jobs/<id>/` in the store with a
//! `job.json` that survives restarts. This module is the queue and its records; `tasks` is
//! what each task computes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Store;

mod tasks;

use tasks::shown;
pub use tasks::{is_clean, window_for};

/// What a job computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// The series as NIfTI (`volume.nii.gz`) and a montage.
    Convert,
    /// A classical brain mask of a T1 MRI (`mask.nii.gz`), its surface and an overlay montage.
    BrainMask,
    /// The isosurface at `level` (default: 300 HU for CT, the Otsu level otherwise).
    Surface,
    /// CT tissue labels (1 soft tissue from -300 HU, 2 bone from 300 HU) and the surfaces of
    /// the skin (everything from -300 HU) and the bone.
    Tissues,
}

/// A job as asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// What to compute.
    pub task: Task,
    /// Iso level for `surface` (in the series' rescaled units, HU for CT).
    #[serde(default)]
    pub level: Option<f64>,
    /// Taubin smoothing iterations of the surfaces.
    #[serde(default = "default_smoothing")]
    pub smoothing: u32,
    /// Fraction of the triangles kept by decimation (0 < keep <= 1).
    #[serde(default = "default_keep")]
    pub keep: f64,
}

fn default_smoothing() -> u32 {
    20
}

fn default_keep() -> f64 {
    0.5
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the worker.
    Queued,
    /// Being computed.
    Running,
    /// Finished; its outputs are listed.
    Done,
    /// Failed; `error` says why.
    Failed,
    /// Cancelled before it finished (its partial outputs removed).
    Cancelled,
}

/// One file a job wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobOutput {
    /// File name in the job's directory.
    pub name: String,
    /// `volume`, `labels`, `mesh` or `picture`.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// For a mesh of one label: the label and its display colour.
    pub label: Option<i64>,
    /// Display colour of a mesh (RGB).
    pub colour: Option<[u8; 3]>,
    /// Triangles of a mesh.
    pub triangles: Option<usize>,
    /// Whether a mesh is closed and manifold.
    pub watertight: Option<bool>,
}

/// A job and its progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its number.
    pub id: u64,
    /// The series it works on.
    pub series_uid: String,
    /// What was asked.
    pub request: JobRequest,
    /// Where it stands.
    pub state: JobState,
    /// What it is doing (or did last).
    pub stage: String,
    /// 0 to 1.
    pub progress: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// What it wrote.
    pub outputs: Vec<JobOutput>,
    /// Seconds it ran.
    pub seconds: Option<f64>,
    /// What the job chose to do differently from what was asked, and why.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Asked to stop: a queued job never starts, a running one stops at its next stage.
    #[serde(default)]
    pub cancel_requested: bool,
}

/// The job queue and its worker.
#[derive(Debug)]
pub struct Jobs {
    root: PathBuf,
    store: Arc<Store>,
    jobs: Mutex<BTreeMap<u64, Job>>,
    queue: Mutex<mpsc::Sender<u64>>,
    next: AtomicU64,
}

impl Jobs {
    /// Starts the worker; jobs finished before a restart are listed again from their `job.json`.
    pub fn start(store: Arc<Store>) -> Result<Arc<Jobs>> {
        let root = store.root().join("jobs");
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let mut jobs = BTreeMap::new();
        // Numbers are never reused: the next is past every job directory, listed or not.
        let mut highest = 0;
        for entry in fs::read_dir(&root).map_err(|e| Error::io(&root, e))?.flatten() {
            if let Some(n) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                highest = highest.max(n);
            }
            let path = entry.path().join("job.json");
            let Ok(text) = fs::read_to_string(&path) else { continue };
            if let Ok(mut job) = serde_json::from_str::<Job>(&text) {
                if job.state == JobState::Running {
                    // Stopped by the restart: its outputs are not to be trusted.
                    clear_outputs(&entry.path());
                    job.state = JobState::Failed;
                    job.error = Some("interrupted: the server stopped while it ran".into());
                    job.outputs.clear();
                    write_job(&entry.path(), &job);
                }
                jobs.insert(job.id, job);
            }
        }
        let next = highest.max(jobs.keys().max().copied().unwrap_or(0)) + 1;
        let queued: Vec<u64> =
            jobs.values().filter(|j| j.state == JobState::Queued).map(|j| j.id).collect();
        let (sender, receiver) = mpsc::channel::<u64>();
        let this = Arc::new(Jobs {
            root,
            store,
            jobs: Mutex::new(jobs),
            queue: Mutex::new(sender),
            next: AtomicU64::new(next),
        });
        let worker = Arc::downgrade(&this);
        std::thread::Builder::new()
            .name("jobs".into())
            .spawn(move || {
                while let Ok(id) = receiver.recv() {
                    let Some(jobs) = worker.upgrade() else { break };
                    jobs.run(id);
                }
            })
            .map_err(|e| Error::Config(format!("cannot start the job worker: {e}")))?;
        // Jobs queued before a restart run now, in their order.
        for id in queued {
            let sent =
                this.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(id);
            sent.map_err(|_| Error::Config("the job worker has stopped".into()))?;
        }
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Job>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a job on a stored series.
    pub fn submit(&self, series_uid: &str, request: JobRequest) -> Result<Job> {
        if self.store.series_dir(series_uid).is_none() {
            return Err(Error::instance(series_uid, "no such series in the store"));
        }
        if !(request.keep > 0.0 && request.keep <= 1.0) {
            return Err(Error::instance(
                "job",
                format!("keep must be in (0, 1], found {}", request.keep),
            ));
        }
        if request.smoothing > 500 {
            return Err(Error::instance("job", "smoothing must be at most 500 iterations"));
        }
        if request.level.is_some_and(|l| !l.is_finite()) {
            return Err(Error::instance("job", "level must be a finite number"));
        }
        if request.level.is_some() && request.task != Task::Surface {
            return Err(Error::instance("job", "level applies to the surface task only"));
        }
        let modality = self
            .store
            .instances()
            .into_iter()
            .find(|r| r.series_uid == series_uid)
            .map(|r| r.modality)
            .unwrap_or_default();
        match request.task {
            Task::BrainMask if modality != "MR" => {
                return Err(Error::instance(
                    "job",
                    format!(
                        "the brain mask is made for T1-weighted MRI: the series is {}",
                        shown(&modality)
                    ),
                ));
            }
            Task::Tissues if modality != "CT" => {
                return Err(Error::instance(
                    "job",
                    format!(
                        "tissue labels use Hounsfield units: the series is {}, not CT",
                        shown(&modality)
                    ),
                ));
            }
            _ => {}
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let job = Job {
            id,
            series_uid: series_uid.to_string(),
            request,
            state: JobState::Queued,
            stage: "queued".into(),
            progress: 0.0,
            error: None,
            outputs: Vec::new(),
            seconds: None,
            notes: Vec::new(),
            cancel_requested: false,
        };
        // On disk before it is queued, so that a restart finds it.
        let dir = self.root.join(id.to_string());
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_job(&dir, &job);
        self.lock().insert(id, job.clone());
        let sent = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(id);
        sent.map_err(|_| Error::Config("the job worker has stopped".into()))?;
        Ok(job)
    }

    /// Asks job `id` to stop: a queued job is cancelled at once, a running one at its next
    /// stage (a stage already running, such as one mesh decimation, finishes first). `None`
    /// when there is no such job; a finished job is left as it is.
    pub fn cancel(&self, id: u64) -> Option<Job> {
        let mut jobs = self.lock();
        let job = jobs.get_mut(&id)?;
        match job.state {
            JobState::Queued => {
                job.state = JobState::Cancelled;
                job.stage = "cancelled".into();
                write_job(&self.root.join(id.to_string()), job);
            }
            JobState::Running => job.cancel_requested = true,
            _ => {}
        }
        Some(job.clone())
    }

    /// A job by number.
    pub fn get(&self, id: u64) -> Option<Job> {
        self.lock().get(&id).cloned()
    }

    /// Every job, newest first.
    pub fn list(&self) -> Vec<Job> {
        self.lock().values().rev().cloned().collect()
    }

    /// The file `name` written by job `id`, if it is one of its outputs.
    pub fn output_path(&self, id: u64, name: &str) -> Option<PathBuf> {
        let job = self.get(id)?;
        job.outputs
            .iter()
            .any(|o| o.name == name)
            .then(|| self.root.join(id.to_string()).join(name))
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.lock().get_mut(&id) {
            f(job);
        }
    }

    fn run(&self, id: u64) {
        let Some(job) = self.get(id).filter(|j| j.state == JobState::Queued) else { return };
        let clock = Instant::now();
        self.update(id, |j| j.state = JobState::Running);
        let dir = self.root.join(id.to_string());
        // A job re-run after a restart starts from nothing.
        clear_outputs(&dir);
        let progress = |stage: &str, fraction: f64| -> Result<()> {
            let mut cancelled = false;
            self.update(id, |j| {
                j.stage = stage.to_string();
                j.progress = fraction;
                cancelled = j.cancel_requested;
            });
            if cancelled { Err(Error::instance(format!("job {id}"), "cancelled")) } else { Ok(()) }
        };
        let mut notes = Vec::new();
        let result = fs::create_dir_all(&dir)
            .map_err(|e| Error::io(&dir, e))
            .and_then(|()| tasks::compute(&self.store, &job, &dir, &progress, &mut notes));
        if result.is_err() {
            // No half-written outputs: a failed or cancelled job leaves only its job.json.
            clear_outputs(&dir);
        }
        self.update(id, |j| {
            j.seconds = Some(clock.elapsed().as_secs_f64());
            j.notes = notes;
            match result {
                Ok(outputs) => {
                    j.state = JobState::Done;
                    j.stage = "done".into();
                    j.progress = 1.0;
                    j.outputs = outputs;
                }
                Err(_) if j.cancel_requested => {
                    j.state = JobState::Cancelled;
                    j.stage = "cancelled".into();
                }
                Err(e) => {
                    j.state = JobState::Failed;
                    j.error = Some(e.reason());
                }
            }
            // Written before the lock is released: once the API shows the job finished, its
            // directory holds the final record and nothing else (no record being written).
            write_job(&dir, j);
        });
    }
}

/// Writes a job's record into its directory. A record that cannot be written leaves the job
/// listed until the next restart.
fn write_job(dir: &Path, job: &Job) {
    if let Ok(text) = serde_json::to_string_pretty(job) {
        let _ = write_atomic(&dir.join("job.json"), text.as_bytes());
    }
}

/// Removes every file of a job's directory but its record.
fn clear_outputs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten().filter(|e| e.file_name() != "job.json") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically (hounsfield-core's temporary file and rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    hounsfield_core::fs::write_bytes_atomic(path, bytes)
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
}
