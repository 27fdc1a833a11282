//! The read cache: immutable version snapshots, and product heads that only their own
//! product's events move.
//! - Snapshots are keyed by `(product id, version)`. A version never changes once written
//!   and a purged product's id is never reused, so an entry is never stale; it leaves only
//!   when evicted.
//! - Heads (a product's latest version and deleted state) are keyed by name and forgotten
//!   when an event about that product commits: at commit on this replica, through
//!   `LISTEN` on the others. While the listener is down (`trusted` false) heads are not
//!   served from memory at all, so moving selectors go to the database. A load that raced
//!   a change is not kept (`generation`).
//! - Both are bounded by bytes (`DAAP_CACHE_BYTES`) with CLOCK-Pro eviction (quick_cache):
//!   new entries start cold and a flood of distinct keys evicts only other cold entries.
//!   Nothing keyed by free-form input (lists, cursors, misses) is cached.
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use std::time::Duration;

use quick_cache::{Weighter, sync::Cache};

use super::views::{Head, VersionSnapshot};
use crate::domain::version::Version;

#[derive(Clone)]
struct SnapshotWeight;

impl Weighter<(i64, Version), Arc<VersionSnapshot>> for SnapshotWeight {
    fn weight(&self, _: &(i64, Version), value: &Arc<VersionSnapshot>) -> u64 {
        value.weight
    }
}

#[derive(Clone)]
struct HeadWeight;

impl Weighter<String, Arc<Head>> for HeadWeight {
    fn weight(&self, key: &String, value: &Arc<Head>) -> u64 {
        (2 * key.len() + value.domain.len() + std::mem::size_of::<Head>() + 128) as u64
    }
}

/// Snapshot bytes one estimated entry takes, to size the tables up front.
const TYPICAL_SNAPSHOT: u64 = 16 * 1024;
const TYPICAL_HEAD: u64 = 320;

pub struct ReadCache {
    snapshots: Cache<(i64, Version), Arc<VersionSnapshot>, SnapshotWeight>,
    heads: Cache<String, Arc<Head>, HeadWeight>,
    /// The newest version within an older major (immutable once a later major exists).
    majors: Cache<(i64, u32), Version>,
    generation: AtomicU64,
    trusted: AtomicBool,
    head_ttl: Option<Duration>,
}

/// How long a replica that hears other replicas' changes (PostgreSQL) serves a head from
/// memory at most: the bound on staleness when a notification is lost (the writer crashed
/// between its commit and the notification).
pub const HEAD_TTL: Duration = Duration::from_secs(5);

impl ReadCache {
    /// A cache of at most about `bytes`; heads and major pointers get an eighth of it.
    /// `trusted`: whether heads may be served from memory at start (no listener needed);
    /// `head_ttl`: how long a head is served from memory at most (`None`: until it moves).
    pub fn new(bytes: u64, trusted: bool, head_ttl: Option<Duration>) -> ReadCache {
        let small = (bytes / 8).max(64 * 1024);
        let big = bytes.saturating_sub(small).max(256 * 1024);
        ReadCache {
            snapshots: Cache::with_weighter((big / TYPICAL_SNAPSHOT).max(16) as usize, big, SnapshotWeight),
            heads: Cache::with_weighter((small / 2 / TYPICAL_HEAD).max(16) as usize, small / 2, HeadWeight),
            majors: Cache::new((small / 2 / 64).max(16) as usize),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
            head_ttl,
        }
    }

    pub fn snapshot(&self, product_id: i64, version: Version) -> Option<Arc<VersionSnapshot>> {
        self.snapshots.get(&(product_id, version))
    }

    pub fn put_snapshot(&self, product_id: i64, version: Version, snapshot: Arc<VersionSnapshot>) {
        self.snapshots.insert((product_id, version), snapshot);
    }

    pub fn major(&self, product_id: i64, major: u32) -> Option<Version> {
        self.majors.get(&(product_id, major))
    }

    pub fn put_major(&self, product_id: i64, major: u32, latest: Version) {
        self.majors.insert((product_id, major), latest);
    }

    /// Take this before loading a head from the database, and pass it to `put_head`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The cached head of `name`, when heads can be trusted.
    pub fn head(&self, name: &str) -> Option<Arc<Head>> {
        if !self.trusted.load(Ordering::SeqCst) {
            return None;
        }
        let head = self.heads.get(name)?;
        match self.head_ttl {
            Some(ttl) if head.loaded_at.elapsed() > ttl => None,
            _ => Some(head),
        }
    }

    /// Keeps a head loaded at `generation`, unless a change came in meanwhile.
    pub fn put_head(&self, generation: u64, head: Arc<Head>) {
        if !self.trusted.load(Ordering::SeqCst) {
            return;
        }
        let name = head.name.clone();
        self.heads.insert(name.clone(), head);
        // A change that landed while we loaded: drop what we just put, it may be older.
        // (`forget_head` bumps the generation before it removes, so one of the two sees it.)
        if self.generation.load(Ordering::SeqCst) != generation {
            self.heads.remove(&name);
        }
    }

    /// An event about `name` committed: its head must be read again.
    pub fn forget_head(&self, name: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.heads.remove(name);
    }

    /// Whether heads can be trusted (the change listener is up); turning it on or off
    /// forgets every head, since changes may have been missed.
    pub fn set_trusted(&self, trusted: bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.trusted.store(trusted, Ordering::SeqCst);
        self.heads.clear();
    }

    /// Bytes held now, for metrics and tests.
    pub fn weight(&self) -> u64 {
        self.snapshots.weight() + self.heads.weight()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{
        domain::model::{ProductMetadata, ProductStatus},
        store::views::{ColumnRecord, ProductView, TableView},
    };

    fn snapshot(columns: usize) -> Arc<VersionSnapshot> {
        let metadata = ProductMetadata {
            description: "d".into(),
            domain: "D".into(),
            data_product_owner: "o@example.org".into(),
            data_product_owner_display_name: "O".into(),
            data_product_maintainer: None,
            data_product_maintainer_display_name: None,
            email: "e@example.org".into(),
            status: ProductStatus::Draft,
            retention_period: 1,
            dpia_required: false,
            dpia_location: None,
            tags: Default::default(),
        };
        let column =
            ColumnRecord { name: "c".repeat(20), ty: "string".into(), description: "x".repeat(100), nullable: true };
        let table = TableView {
            product: "p".into(),
            version: Version::FIRST,
            name: "t".into(),
            description: "t".into(),
            columns: vec![column; columns],
        };
        let product = ProductView {
            name: "p".into(),
            version: Version::FIRST,
            metadata,
            tables: vec!["t".into()],
            created_at: Utc::now(),
            created_by: "a".into(),
            updated_at: Utc::now(),
            updated_by: "a".into(),
            deleted_at: None,
        };
        VersionSnapshot::new(product, vec![table])
    }

    fn head(name: &str) -> Arc<Head> {
        Arc::new(Head {
            id: 1,
            name: name.into(),
            domain: "D".into(),
            latest: Version::FIRST,
            deleted_at: None,
            created_at: chrono::Utc::now(),
            created_by: "someone".into(),
            loaded_at: std::time::Instant::now(),
        })
    }

    #[test]
    fn heads_older_than_their_lifetime_are_read_again() {
        let cache = ReadCache::new(1 << 20, true, Some(HEAD_TTL));
        let fresh = head("fresh");
        let mut old = (*head("old")).clone();
        old.loaded_at = std::time::Instant::now() - 2 * HEAD_TTL;
        cache.put_head(cache.generation(), fresh);
        cache.put_head(cache.generation(), Arc::new(old));
        assert!(cache.head("fresh").is_some());
        assert!(cache.head("old").is_none(), "a head past its lifetime is not served");
    }

    #[test]
    fn a_flood_of_distinct_snapshots_stays_within_the_byte_bound() {
        let bound = 4 * 1024 * 1024;
        let cache = ReadCache::new(bound, true, None);
        let one = snapshot(50);
        assert!(one.weight > 50 * 100, "a snapshot weighs at least its text: {}", one.weight);
        for id in 0..10_000 {
            cache.put_snapshot(id, Version::FIRST, one.clone());
            assert!(cache.weight() <= bound, "{} bytes held after {id} inserts", cache.weight());
        }
        assert!(cache.weight() > bound / 2, "the cache is used: {}", cache.weight());
    }

    #[test]
    fn a_head_loaded_while_its_product_changed_is_not_kept() {
        let cache = ReadCache::new(1 << 20, true, None);
        let generation = cache.generation();
        cache.forget_head("p");
        cache.put_head(generation, head("p"));
        assert!(cache.head("p").is_none(), "a head older than a change was kept");
        cache.put_head(cache.generation(), head("p"));
        assert!(cache.head("p").is_some());
        cache.forget_head("p");
        assert!(cache.head("p").is_none());
    }

    #[test]
    fn heads_are_not_served_while_changes_cannot_be_heard() {
        let cache = ReadCache::new(1 << 20, true, None);
        cache.put_head(cache.generation(), head("p"));
        cache.set_trusted(false);
        assert!(cache.head("p").is_none());
        cache.put_head(cache.generation(), head("p"));
        assert!(cache.head("p").is_none(), "a head was kept while not listening");
        cache.set_trusted(true);
        assert!(cache.head("p").is_none(), "heads from before the listener came back were kept");
    }
}
