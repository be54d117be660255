//! Identifiers and the one seeded source of randomness.
//!
//! * [`Entropy`]: every random choice of the mock (request ids, media tokens, ...) is drawn from
//!   one `StdRng` seeded by `--seed`, so the same seed, a frozen clock and the same requests give
//!   the same answers. The UUIDs a client sees (request ids, media tokens) are those draws keyed
//!   by the accounts' secret keys: a tenant who knows the seed cannot derive another tenant's file
//!   URLs, nor place its own request ids in the stream to count the draws others caused.
//! * [`IdGen`]: task, audio, voice and video ids are 18-digit decimal strings that grow over time,
//!   like the live API's (`930801301486305328`, SOURCES.md: observed id formats), drawn from one
//!   increasing counter so they are unique across kinds.
//! * [`KindId`]: a task kind's name (`text-to-audio`), the key of stored tasks, lifecycles and
//!   rules. The kinds themselves (`crate::kinds::ALL`) give it its meaning.

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A task kind, named by its slug (`custom-voice`, `text-to-audio`): the key of stored tasks,
/// lifecycles, outcome rules and census counts, written as the slug in saved states. Each kind
/// file defines its own (`KindId::new("...")`); `crate::kinds` adds what the registry knows of it
/// (`spec`, `pool`, `unit_cost`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindId(&'static str);

impl KindId {
    /// The smallest id (the start of a range over ids).
    pub const MIN: KindId = KindId("");

    /// The kind named `slug`.
    pub const fn new(slug: &'static str) -> KindId {
        KindId(slug)
    }

    /// Its name, as in `--timing`, `[lifecycle.KIND]`, outcome rules and the control plane.
    pub const fn slug(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for KindId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for KindId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for KindId {
    /// Any name: whether a kind of that name is served is for the reader to check (a saved
    /// state names kinds this build may not know). Names are interned, so each distinct name
    /// costs its bytes once per process.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<KindId, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(KindId(intern(&name)))
    }
}

/// `name` as a `&'static str`, the same pointer for the same name.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<std::collections::BTreeSet<&'static str>> =
        Mutex::new(std::collections::BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The seeded random source. A std Mutex: each draw holds it for a few nanoseconds.
#[derive(Debug)]
pub struct Entropy {
    seed: u64,
    rng: Mutex<Stream>,
    /// The HMAC key of the UUIDs clients see ([`Entropy::uuid`]).
    key: UuidKey,
}

/// Where the stream started, and how many 64-bit words it has given since: enough to put it
/// back where it was ([`Entropy::position`], [`Entropy::resume`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The 32-byte seed of a forked stream; `None`: the stream of the configured seed.
    pub forked: Option<[u8; 32]>,
    /// 64-bit words drawn since that start.
    pub words: u64,
}

#[derive(Debug)]
struct Stream {
    rng: StdRng,
    at: Position,
}

impl Stream {
    fn start(seed: u64, forked: Option<[u8; 32]>) -> Stream {
        Stream {
            rng: match forked {
                Some(s) => StdRng::from_seed(s),
                None => StdRng::seed_from_u64(seed),
            },
            at: Position { forked, words: 0 },
        }
    }

    fn word(&mut self) -> u64 {
        self.at.words += 1;
        self.rng.random()
    }
}

/// Secret key material; `Debug` does not print it.
struct UuidKey([u8; 32]);

impl std::fmt::Debug for UuidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UuidKey(..)")
    }
}

impl Entropy {
    /// A source seeded with `seed`, its UUIDs keyed by the seed alone (so derivable by whoever
    /// knows it: for tests; the server uses [`Entropy::keyed`]).
    pub fn new(seed: u64) -> Self {
        Self::keyed(seed, [])
    }

    /// A source seeded with `seed` whose UUIDs are also keyed by `secrets` (the accounts' secret
    /// keys): the seed and one's own secret key are not enough to derive them.
    pub fn keyed<'a>(seed: u64, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut key = Sha256::new();
        key.update(b"kling-mock uuids");
        key.update(seed.to_le_bytes());
        for secret in secrets {
            // Length-prefixed, so no two lists of secrets give the same key.
            key.update((secret.len() as u64).to_le_bytes());
            key.update(secret.as_bytes());
        }
        Entropy {
            seed,
            rng: Mutex::new(Stream::start(seed, None)),
            key: UuidKey(key.finalize().into()),
        }
    }

    /// The seed this source started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn stream(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A random u64.
    pub fn u64(&self) -> u64 {
        self.stream().word()
    }

    /// 16 random bytes (two words).
    pub fn bytes16(&self) -> [u8; 16] {
        let mut s = self.stream();
        let (a, b) = (s.word(), s.word());
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes());
        out
    }

    /// Where the stream is now (for the state store).
    pub fn position(&self) -> Position {
        self.stream().at
    }

    /// Put the stream where `p` says (a state saved at a graceful stop): the draws go on as if
    /// the server had not stopped.
    pub fn resume(&self, p: Position) {
        let mut s = Stream::start(self.seed, p.forked);
        for _ in 0..p.words {
            let _: u64 = s.rng.random();
        }
        s.at.words = p.words;
        *self.stream() = s;
    }

    /// A random (version 4) UUID: HMAC-SHA256(key, next 16 bytes of the seeded stream), so
    /// deterministic for one seed and one set of accounts, yet not derivable from the seed alone.
    pub fn uuid(&self) -> uuid::Uuid {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key.0)
            .expect("HMAC takes keys of any length");
        mac.update(&self.bytes16());
        let mut bits = [0u8; 16];
        bits.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        uuid::Builder::from_random_bytes(bits).into_uuid()
    }

    /// An unguessable media token: the bytes of a keyed random v4 UUID (122 bits, see
    /// [`Entropy::uuid`]), so file names read `kling_<uuid v4>` like the live CDN's.
    pub fn token(&self) -> [u8; 16] {
        self.uuid().into_bytes()
    }

    /// Continue from a stream of its own for `salt`, derived from the key: after a state file is
    /// loaded ([`crate::app`]), the seeded stream would otherwise start over and hand out again
    /// the media tokens of the files restored (or expired) from before the restart, so a new
    /// file of one tenant would take over another tenant's old URL.
    pub fn fork(&self, salt: &[u8]) {
        let mut seed = Sha256::new();
        seed.update(b"kling-mock fork");
        seed.update(self.key.0);
        seed.update(salt);
        *self.stream() = Stream::start(self.seed, Some(seed.finalize().into()));
    }
}

/// 2019-09-01T00:00:00Z: the origin of the time part of ids.
const ID_EPOCH_MS: i64 = 1_567_296_000_000;
/// Every id is at least this, so it has 18 digits (until about 2082 of clock time).
const ID_BASE: u64 = 800_000_000_000_000_000;
/// Ids per millisecond of clock time.
const IDS_PER_MS: u64 = 100_000;
/// The first id of a millisecond starts at a pseudo-random offset below this, so ids do not end
/// in rows of zeros; the rest of the millisecond's range is left for ids created in it.
const MS_JITTER: u64 = 50_000;

/// Generator of 18-digit numeric ids, strictly increasing: the time part grows with the clock,
/// ids created in the same millisecond follow each other.
#[derive(Debug, Default)]
pub struct IdGen {
    last: AtomicU64,
    salt: u64,
}

impl IdGen {
    /// A generator whose ids depend on `salt` (the seed) and the clock only.
    pub fn new(salt: u64) -> Self {
        IdGen {
            last: AtomicU64::new(0),
            salt,
        }
    }

    /// A new id for something created at `now_ms`: larger than every id given before.
    pub fn next(&self, now_ms: i64) -> u64 {
        let since = now_ms.saturating_sub(ID_EPOCH_MS).max(0) as u64;
        let jitter = splitmix64(since ^ self.salt) % MS_JITTER;
        // Capped below u64::MAX (a clock set near the end of i64 saturates the time part): ids
        // then go on one by one from the cap, still unique, instead of overflowing.
        let floor = ID_BASE
            .saturating_add(since.saturating_mul(IDS_PER_MS))
            .saturating_add(jitter)
            .min(u64::MAX - (1 << 40));
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = floor.max(prev.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }

    /// The largest id given so far (0 if none).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// Make sure later ids are larger than `id` (used when state is loaded).
    pub fn observe(&self, id: u64) {
        self.last.fetch_max(id, Ordering::Relaxed);
    }
}

/// SplitMix64's output function: a cheap, well-mixed hash of a u64.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_stream_goes_on_with_the_draws_it_would_have_made() {
        let a = Entropy::keyed(9, ["sk"]);
        let _ = (a.uuid(), a.u64(), a.token());
        let at = a.position();
        let next: Vec<_> = (0..5).map(|_| a.uuid()).collect();
        let b = Entropy::keyed(9, ["sk"]);
        b.resume(at);
        assert_eq!((0..5).map(|_| b.uuid()).collect::<Vec<_>>(), next);
        // A forked stream too.
        a.fork(b"salt");
        let _ = a.u64();
        let at = a.position();
        assert!(at.forked.is_some() && at.words == 1);
        let next = a.uuid();
        b.resume(at);
        assert_eq!(b.uuid(), next);
    }

    #[test]
    fn a_kind_id_is_saved_as_its_slug_and_read_back_as_the_same_name() {
        let k = KindId::new("text-to-audio");
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(text, r#""text-to-audio""#);
        let back: KindId = serde_json::from_str(&text).unwrap();
        assert_eq!(back, k);
        let again: KindId = serde_json::from_str(&text).unwrap();
        assert!(
            std::ptr::eq(back.slug(), again.slug()),
            "a name read twice is stored once"
        );
        let other: KindId = serde_json::from_str(r#""hologram""#).unwrap();
        assert_eq!(other.slug(), "hologram");
        assert!(KindId::MIN < k && KindId::MIN <= other);
    }

    #[test]
    fn ids_have_18_digits_and_strictly_increase_even_within_one_millisecond() {
        let g = IdGen::new(3);
        let now = 1_790_000_000_000; // 2026-09
        let mut prev = 0;
        for _ in 0..1000 {
            let id = g.next(now);
            assert_eq!(id.to_string().len(), 18);
            assert!(id > prev);
            prev = id;
        }
        assert!(
            g.next(now - 10_000) > prev,
            "a clock set back never repeats an id"
        );
        assert_eq!(g.next(0).to_string().len(), 18);
        assert_eq!(g.next(3_500_000_000_000).to_string().len(), 18, "year 2080");
    }

    #[test]
    fn ids_of_later_milliseconds_are_larger_and_do_not_end_in_zeros() {
        let g = IdGen::new(9);
        let ids: Vec<u64> = (0..50).map(|i| g.next(1_790_000_000_000 + i * 7)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ids.iter().filter(|id| *id % 1000 == 0).count() < 3,
            "{ids:?}"
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_values() {
        let a = Entropy::new(7);
        let b = Entropy::new(7);
        assert_eq!(a.uuid(), b.uuid());
        assert_eq!(a.u64(), b.u64());
        assert_ne!(Entropy::new(8).uuid(), Entropy::new(7).uuid());
        assert_eq!(a.uuid().get_version_num(), 4);
    }

    #[test]
    fn uuids_are_keyed_by_the_secrets_not_only_by_the_seed() {
        let first = |secrets: &[&str]| Entropy::keyed(7, secrets.iter().copied()).uuid();
        assert_eq!(first(&["sk-a", "sk-b"]), first(&["sk-a", "sk-b"]));
        assert_ne!(first(&["sk-a", "sk-b"]), first(&["sk-a", "sk-c"]));
        assert_ne!(first(&["sk-ab"]), first(&["sk-a", "b"]));
        assert_ne!(first(&["sk-a"]), Entropy::new(7).uuid());
        // Not the seeded draw itself: replaying the stream does not give the UUID.
        let raw = uuid::Builder::from_random_bytes(Entropy::new(7).bytes16()).into_uuid();
        assert_ne!(first(&[]), raw);
        assert_eq!(first(&["sk-a"]).get_version_num(), 4);
    }

    #[test]
    fn a_fork_leaves_the_seeded_stream_for_one_of_its_own_salt() {
        let draws = |e: &Entropy| (0..3).map(|_| e.uuid()).collect::<Vec<_>>();
        let (a, b, c) = (Entropy::new(7), Entropy::new(7), Entropy::new(7));
        let before = draws(&Entropy::new(7));
        b.fork(b"restart 1");
        c.fork(b"restart 2");
        assert_eq!(draws(&a), before);
        let (b, c) = (draws(&b), draws(&c));
        assert!(b.iter().all(|u| !before.contains(u)), "no draw comes again");
        assert_ne!(b, c);
        let again = Entropy::new(7);
        again.fork(b"restart 1");
        assert_eq!(draws(&again), b, "deterministic for one salt");
    }
}
