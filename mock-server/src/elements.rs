//! The registry of the elements callers create (SOURCES.md: Elements): element id → owner, where
//! it comes from, and whether it was deleted.
//!
//! Two sources, one id space:
//! * an **advanced** element (`POST /v1/general/advanced-custom-elements`) is the result of a
//!   task of the engine; it exists once that task has succeeded (`crate::kinds::elements`
//!   asks the engine), so the registry keeps only the task id;
//! * a **legacy** element (`POST /v1/general/custom-elements`) is made synchronously and has no
//!   task: the registry keeps all of it ([`LegacyElement`]).
//!
//! A deleted element stays in the registry, marked: its task still shows it with `status:
//! "deleted"`, and a video create naming it is told it was deleted rather than that it never
//! existed. Preset elements are fixtures of the kinds (`crate::kinds::elements`), never here.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

/// What an element was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// An advanced element: the id of the task that creates it.
    Task(u64),
    /// A legacy element, whole.
    Legacy(Box<LegacyElement>),
}

/// A legacy element (`POST /v1/general/custom-elements`), as its create answered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyElement {
    /// `element_name`.
    pub name: String,
    /// `element_description`.
    pub description: String,
    /// `element_frontal_image`: the URL shown back (the given URL, or the mock's own file made
    /// from Base64 input).
    pub frontal_image: String,
    /// `element_refer_list[].image_url`, likewise.
    pub refer_images: Vec<String>,
    /// `tag_list[].tag_id` (`o_101`..`o_108`).
    pub tags: Vec<String>,
    /// `owned_by`: the creator's numeric id.
    pub owned_by: u64,
    /// When it was made, Unix ms on the mock's clock.
    pub created_at: i64,
}

/// One registered element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    /// The owning account (its live index).
    pub account: u32,
    /// Where it comes from.
    pub source: Source,
    /// Deleted by its owner (`delete-elements`, `delete-advanced-elements`).
    pub deleted: bool,
}

/// Element id → [`Element`]. Shared behind the state; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Elements {
    by_id: DashMap<u64, Element>,
    /// Element ids registered, changed or forgotten, for the state store.
    pub dirty: crate::dirty::Dirty<u64>,
}

impl Elements {
    /// Remember element `id` (a new one, or one read back from a saved state).
    pub fn register(&self, id: u64, element: Element) {
        self.by_id.insert(id, element);
        self.dirty.mark(id);
    }

    /// Element `id`, whoever owns it (for the state store).
    pub fn entry(&self, id: u64) -> Option<Element> {
        self.by_id.get(&id).map(|e| e.value().clone())
    }

    /// Element `id` if it belongs to `account` (deleted or not).
    pub fn of(&self, account: u32, id: u64) -> Option<Element> {
        self.by_id
            .get(&id)
            .filter(|e| e.account == account)
            .map(|e| e.value().clone())
    }

    /// Mark element `id` of `account` deleted. Returns whether it was there and not deleted yet.
    pub fn delete(&self, account: u32, id: u64) -> bool {
        let done = self
            .by_id
            .get_mut(&id)
            .filter(|e| e.account == account && !e.deleted)
            .map(|mut e| e.deleted = true)
            .is_some();
        if done {
            self.dirty.mark(id);
        }
        done
    }

    /// The legacy elements of `account`, deleted ones too, newest first (ids grow with time).
    pub fn legacy_of(&self, account: u32) -> Vec<(u64, LegacyElement, bool)> {
        let mut out: Vec<(u64, LegacyElement, bool)> = self
            .by_id
            .iter()
            .filter(|e| e.account == account)
            .filter_map(|e| match &e.source {
                Source::Legacy(l) => Some((*e.key(), (**l).clone(), e.deleted)),
                Source::Task(_) => None,
            })
            .collect();
        out.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        out
    }

    /// Every (element id, element), for persistence and diagnostics.
    pub fn entries(&self) -> Vec<(u64, Element)> {
        self.by_id
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect()
    }

    /// Forget the elements of `account` (or all).
    pub fn clear(&self, account: Option<u32>) {
        self.by_id.retain(|id, e| {
            let keep = account.is_some_and(|a| a != e.account);
            if !keep {
                self.dirty.mark(*id);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(name: &str) -> Source {
        Source::Legacy(Box::new(LegacyElement {
            name: name.into(),
            description: "d".into(),
            frontal_image: "https://x/a.png".into(),
            refer_images: vec!["https://x/b.png".into()],
            tags: vec!["o_102".into()],
            owned_by: 7,
            created_at: 0,
        }))
    }

    #[test]
    fn elements_belong_to_their_account_and_are_deleted_once() {
        let r = Elements::default();
        r.register(
            10,
            Element {
                account: 0,
                source: Source::Task(9),
                deleted: false,
            },
        );
        r.register(
            11,
            Element {
                account: 1,
                source: legacy("b"),
                deleted: false,
            },
        );
        assert!(r.of(1, 10).is_none(), "another account's element");
        assert_eq!(r.of(0, 10).map(|e| e.source), Some(Source::Task(9)));
        assert!(!r.delete(1, 10), "only the owner deletes");
        assert!(r.delete(0, 10));
        assert!(!r.delete(0, 10), "already deleted");
        assert!(r.of(0, 10).unwrap().deleted);
        assert_eq!(r.legacy_of(1).len(), 1);
        assert!(
            r.legacy_of(0).is_empty(),
            "advanced elements are not legacy"
        );
        r.clear(Some(0));
        assert!(r.entry(10).is_none() && r.entry(11).is_some());
        r.clear(None);
        assert!(r.entries().is_empty());
    }
}
