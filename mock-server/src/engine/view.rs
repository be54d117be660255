//! What a task looks like on the wire: the single-query `data` object, the create `data`
//! object, and the callback body (the single-query object itself, no envelope; SOURCES.md: Callback Protocol).

use super::{KindId, TaskResult};
use serde::Serialize;
use serde::ser::SerializeMap;

/// Task status (SOURCES.md: General Info). Note the documented spelling `succeed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, waiting.
    Submitted,
    /// Running.
    Processing,
    /// Finished with a result.
    Succeed,
    /// Finished without a result; `task_status_msg` says why.
    Failed,
}

impl Status {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Processing => "processing",
            Status::Succeed => "succeed",
            Status::Failed => "failed",
        }
    }

    /// Whether the task has finished.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Succeed | Status::Failed)
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An owned snapshot of a task, taken out of the store.
#[derive(Clone, Debug)]
pub struct TaskView {
    /// `task_id`.
    pub id: u64,
    /// The kind.
    pub kind: KindId,
    /// `task_info.external_task_id`.
    pub external_id: Option<Box<str>>,
    /// `task_status`.
    pub status: Status,
    /// `task_status_msg`: the failure reason of a failed task, `""` otherwise.
    pub status_msg: Box<str>,
    /// `created_at`, Unix ms.
    pub created_at: i64,
    /// `updated_at`, Unix ms.
    pub updated_at: i64,
    /// `task_result`, present once the task succeeded.
    pub result: Option<TaskResult>,
    /// The result planned at creation, whatever the status (what the request decided: its
    /// `task_info` entries, `watermark_info`, cost).
    pub planned: TaskResult,
}

impl TaskView {
    /// `final_unit_deduction`: the kind's cost once succeeded, "0" otherwise (failed tasks are not
    /// billed, SOURCES.md: observed deductions).
    pub fn deduction(&self) -> &str {
        if self.status == Status::Succeed {
            self.planned
                .saved()
                .deduction()
                .unwrap_or_else(|| self.kind.unit_deduction())
        } else {
            "0"
        }
    }

    /// The single-query `data` object, URLs rooted at `base`.
    pub fn query<'a>(&'a self, base: &'a str) -> QueryView<'a> {
        QueryView { task: self, base }
    }

    /// The create `data` object.
    pub fn created(&self) -> CreatedView<'_> {
        CreatedView { task: self }
    }
}

/// `task_info`: the external id, and (`Some(base)`: query views) the kind's own entries.
struct TaskInfo<'a>(&'a TaskView, Option<&'a str>);

impl Serialize for TaskInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `{}` without an external id, as the live API answers (SOURCES.md: General Info).
        let extra = self
            .1
            .map(|base| self.0.planned.saved().task_info(base))
            .unwrap_or_default();
        let mut m = s.serialize_map(Some(self.0.external_id.is_some() as usize + extra.len()))?;
        for (k, v) in &extra {
            m.serialize_entry(k, v)?;
        }
        if let Some(e) = &self.0.external_id {
            m.serialize_entry("external_task_id", e)?;
        }
        m.end()
    }
}

/// The single-query / list-item / callback object.
pub struct QueryView<'a> {
    task: &'a TaskView,
    base: &'a str,
}

impl Serialize for QueryView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.task;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("task_id", &t.id.to_string())?;
        m.serialize_entry("task_status", &t.status)?;
        m.serialize_entry("task_status_msg", &*t.status_msg)?;
        m.serialize_entry("task_info", &TaskInfo(t, Some(self.base)))?;
        match &t.result {
            Some(r) => m.serialize_entry("task_result", &r.to_wire(self.base))?,
            // A task without a result shows `task_result: {}` (SOURCES.md: General Info; S4's failed task).
            None => m.serialize_entry("task_result", &serde_json::Map::new())?,
        }
        for (k, v) in t.planned.saved().extra() {
            m.serialize_entry(k, &v)?;
        }
        m.serialize_entry("final_unit_deduction", t.deduction())?;
        m.serialize_entry("created_at", &t.created_at)?;
        m.serialize_entry("updated_at", &t.updated_at)?;
        m.end()
    }
}

/// The create answer: `{task_id, task_status, task_info, created_at, updated_at}`.
pub struct CreatedView<'a> {
    task: &'a TaskView,
}

impl Serialize for CreatedView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.task;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("task_id", &t.id.to_string())?;
        m.serialize_entry("task_status", &t.status)?;
        m.serialize_entry("task_info", &TaskInfo(t, None))?;
        m.serialize_entry("created_at", &t.created_at)?;
        m.serialize_entry("updated_at", &t.updated_at)?;
        m.end()
    }
}
