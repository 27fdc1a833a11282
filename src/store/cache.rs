//! A read-through cache of product reads, invalidated by every committed event.
//! Every change to a product appends an event, and every event bumps the feed
//! notifier's epoch (at commit on this replica, through LISTEN from the others), so an
//! entry is only served while no event has committed since it was loaded. The epoch is
//! read before loading, so a change that races a load can only make the entry stale-marked.
use std::{
    any::Any,
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::events::Notifier;

/// Entries kept before the cache starts over.
const CAPACITY: usize = 10_000;

type Entry = (u64, Arc<dyn Any + Send + Sync>);

pub struct ReadCache {
    feed: Notifier,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ReadCache {
    pub fn new(feed: Notifier) -> ReadCache {
        ReadCache { feed, entries: Mutex::new(HashMap::new()) }
    }

    /// Take this before loading what will be stored with `put`.
    pub fn epoch(&self) -> u64 {
        self.feed.epoch()
    }

    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let epoch = self.epoch();
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        if *at != epoch {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    pub fn put<T: Send + Sync + 'static>(&self, key: String, epoch: u64, value: T) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, (epoch, Arc::new(value)));
        }
    }
}
