//! Hostile input: state (see `mod.rs`).

use super::*;

/// Everything a refused request must leave as it was. Left out: the journal and the fault rules'
/// match counters (they record requests by design), request-id and id counters, callback delivery
/// logs (deliveries run in the background).
pub(super) fn snapshot(s: &AppState) -> Value {
    let now = s.clock.now_ms();
    let census: Vec<String> = s
        .engine
        .census()
        .into_iter()
        .map(|(k, n)| format!("{k:?}={n}"))
        .collect();
    let billing: Vec<Value> = s
        .accounts
        .list()
        .iter()
        .map(|a| {
            let (settings, in_flight) = s.engine.billing.settings(a.idx, now);
            json!({"settings": settings, "in_flight": in_flight})
        })
        .collect();
    let faults: Vec<Value> = s
        .control
        .faults()
        .into_iter()
        .map(|f| serde_json::to_value(&f.spec).unwrap())
        .collect();
    let mut voices = s.custom_voices.entries();
    voices.sort_unstable();
    let mut elements: Vec<(u64, u32, bool)> = s
        .elements
        .entries()
        .into_iter()
        .map(|(id, e)| (id, e.account, e.deleted))
        .collect();
    elements.sort_unstable();
    let lifecycles: Vec<Value> = kling_mock::kinds::KindId::tasks()
        .map(|k| serde_json::to_value(s.engine.lifecycle(k)).unwrap())
        .collect();
    json!({
        "clock": [now, s.clock.is_frozen()],
        "tasks": s.engine.task_count(),
        "census": census,
        "pending_transitions": s.engine.pending_transitions(),
        "media": [s.media.file_count(), s.media.item_count()],
        "voices": voices,
        "elements": elements,
        "billing": billing,
        "faults": faults,
        "latency": s.control.latency(),
        "outcomes": s.control.outcomes(),
        "journal_capacity": s.control.journal.capacity(),
        "callback_faults": s.engine.callback_faults(),
        "lifecycles": lifecycles,
    })
}

/// Ids of the tasks, voices and media the harness created, which `~~K<i>~~` and `~~M<i>~~`
/// placeholders of generated requests stand for.
#[derive(Clone, Debug, Default)]
pub(super) struct Known {
    pub(super) ids: Vec<String>,
    pub(super) media: Vec<String>,
}

/// Placeholders `~~K0~~`..: a finished and a live text-to-audio task, a custom voice task, its
/// voice id, the three external ids, an official (preset) voice id.
pub(super) const KNOWN_IDS: usize = 8;
/// Placeholders `~~M0~~`..: a TTS MP3, a text-to-audio MP3 and WAV, a preset trial MP3.
pub(super) const KNOWN_MEDIA: usize = 4;

impl Known {
    pub(super) fn resolve(&self, bytes: &[u8]) -> Vec<u8> {
        // (A body that is not UTF-8 keeps its placeholders: it is refused before any id is read.)
        let Ok(text) = std::str::from_utf8(bytes) else {
            return bytes.to_vec();
        };
        if !text.contains("~~") {
            return bytes.to_vec();
        }
        let mut out = text.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            out = out.replace(&format!("~~K{i}~~"), id);
        }
        for (i, m) in self.media.iter().enumerate() {
            out = out.replace(&format!("~~M{i}~~"), m);
        }
        out.into_bytes()
    }
}

impl Hostile {
    /// The request with its placeholders replaced by the server's ids.
    pub(super) fn resolve(&self, known: &Known) -> Hostile {
        let mut h = self.clone();
        h.target = String::from_utf8(known.resolve(self.target.as_bytes())).unwrap();
        h.body = known.resolve(&self.body);
        if let Some(i) = h.headers.iter().position(|(n, _)| n == "content-length") {
            // A right length stays right after the substitution.
            if h.headers[i].1 == self.body.len().to_string().as_bytes() {
                h.headers[i].1 = h.body.len().to_string().into_bytes();
            }
        }
        h
    }
}

/// The in-process server under test. A case that changed its rules (or failed) leaves it dirty:
/// it is restored (clock, rules, tasks, journal size) and seeded again before the next case.
pub(super) struct Harness {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) routes: Vec<Route>,
    pub(super) state: AppState,
    pub(super) app: Router,
    pub(super) known: Known,
    /// The state after the last request.
    pub(super) baseline: Value,
    /// The state right after the seeding (to tell which rules a case changed).
    pub(super) initial: Value,
    /// An accepted control-plane change or a failure: restore before the next case.
    pub(super) dirty: bool,
    /// Changes accepted since the last restore (restored after many, to bound memory).
    pub(super) accepted: usize,
    /// Figures for the report.
    pub(super) stats: Stats,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) requests: u64,
    pub(super) by_code: BTreeMap<u32, u64>,
    pub(super) raw: u64,
    pub(super) restores: u64,
}

impl Harness {
    pub(super) fn new() -> Harness {
        // Paused tokio time: latency rules a case installs cost no real time.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        // Building a state costs ~20 ms (HTTP client of the callbacks): once, then restored.
        let state = AppState::new(
            hostile_config().settings(),
            Clock::frozen(START_MS),
            "http://mock.test".into(),
        );
        let app = kling_mock::api::router(state.clone());
        let known = seed(&rt, &app, &state);
        let baseline = snapshot(&state);
        Harness {
            rt,
            routes: routes(),
            state,
            app,
            known,
            initial: baseline.clone(),
            baseline,
            dirty: false,
            accepted: 0,
            stats: Stats::default(),
        }
    }

    /// Back to the state right after [`Harness::new`]: clock, rules, tasks, media, journal.
    pub(super) fn restore(&mut self) {
        let s = &self.state;
        s.clock.freeze();
        s.clock.set(START_MS);
        s.reset(None, None, true);
        s.control.journal.resize(s.config.journal_size);
        self.known = seed(&self.rt, &self.app, s);
        self.initial = snapshot(s);
        self.baseline = self.initial.clone();
        self.dirty = false;
        self.accepted = 0;
        self.stats.restores += 1;
    }

    /// Run one case: each request, its invariants, and the state around it.
    pub(super) fn run(&mut self, case: &[Hostile]) -> Result<(), TestCaseError> {
        if self.dirty || self.accepted > 2_000 {
            self.restore();
        }
        for (i, h) in case.iter().enumerate() {
            let h = h.resolve(&self.known);
            if let Err(e) = self.step(&h) {
                // Start the next case (a shrinking step) from a restored server.
                self.dirty = true;
                return Err(TestCaseError::fail(format!(
                    "request {} of the case: {e}\nthe request as sent: {h:?}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    pub(super) fn step(&mut self, h: &Hostile) -> Result<(), String> {
        let before = &self.baseline;
        // Rules a previous request of the case put in force may answer any documented error.
        let injected = before["faults"] != self.initial["faults"]
            || before["outcomes"] != self.initial["outcomes"]
            || before["billing"] != self.initial["billing"];
        let transport = before["faults"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f.get("transport").is_some()));
        let clock_moves = !self.state.clock.is_frozen();
        let polls = before["lifecycles"] != self.initial["lifecycles"];
        let want = expect(&self.routes, h);
        let app = self.app.clone();
        let (parts, body) = self.rt.block_on(async move {
            let resp = app.oneshot(h.request()).await.unwrap();
            let (parts, body) = resp.into_parts();
            (parts, axum::body::to_bytes(body, usize::MAX).await)
        });
        self.stats.requests += 1;
        let body = match body {
            Ok(b) => b,
            // A close, reset or hang fault answers a body that fails (no connection in process).
            Err(_) if transport => return self.settle(h, None, parts.status.as_u16(), true),
            Err(e) => return Err(format!("the body could not be read: {e}")),
        };
        let status = parts.status.as_u16();
        let public = !h.path().starts_with("/__mock/");
        let answer = check_answer(h, &want, status, &parts.headers, &body, injected && public);
        let answer = match answer {
            Err(_) if transport && public => None,
            Err(e) => return Err(e),
            Ok(a) => a,
        };
        if status >= 500 {
            // Allowed only when the journal says a rule injected it (never on the control plane).
            let rid = answer.as_ref().map(|(_, r)| r.clone());
            let entries = self.state.control.journal.query(&Filter::default());
            let by_rule = entries
                .iter()
                .any(|e| e.request_id == rid && (e.fault.is_some() || e.rule.is_some()));
            let journal_off = !self.state.control.journal.enabled();
            if !(public && (by_rule || (journal_off && injected))) {
                return Err(format!("{status} that no rule injected: {answer:?}"));
            }
        }
        match &answer {
            Some((code, _)) => *self.stats.by_code.entry(*code).or_default() += 1,
            None => self.stats.raw += 1,
        }
        let code = answer.map(|(c, _)| c);
        let read = matches!(h.method.as_str(), "GET" | "HEAD");
        self.settle(h, code, status, clock_moves || (polls && read))
    }

    /// Compare the state with the one before the request, and move the baseline.
    pub(super) fn settle(
        &mut self,
        h: &Hostile,
        code: Option<u32>,
        status: u16,
        unchecked: bool,
    ) -> Result<(), String> {
        let after = snapshot(&self.state);
        let reads = matches!(h.method.as_str(), "GET" | "HEAD");
        let accepted = (200..300).contains(&status) && code.is_none_or(|c| c == 0);
        let control = h.path().starts_with("/__mock/");
        if accepted && !reads {
            // An accepted create or control change: the state may move; a control change also
            // changes the rules, so the next case starts from a fresh server.
            self.accepted += 1;
            self.dirty |= control;
        } else if !unchecked && after != self.baseline {
            return Err(format!(
                "a {} answer ({status}, code {code:?}) changed the state:\n{}",
                if accepted { "read" } else { "refused" },
                diff(&self.baseline, &after)
            ));
        }
        self.baseline = after;
        Ok(())
    }
}

/// Seed a fresh or reset server through its own API: a finished and a live text-to-audio task,
/// a custom voice, a TTS file. Returns their ids.
pub(super) fn seed(rt: &tokio::runtime::Runtime, app: &Router, state: &AppState) -> Known {
    let token = format!(
        "Bearer {}",
        sign(
            json!({"iss": AK, "exp": Clock::wall_ms() / 1000 + 30 * 86_400}),
            SK
        )
    );
    let call = |method: &str, path: &str, body: Option<Value>| -> Value {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", &token);
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        rt.block_on(async {
            let resp = app.clone().oneshot(req).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["code"], 0, "seeding {method} {path}: {v}");
            v["data"].clone()
        })
    };
    let done = call(
        "POST",
        "/v1/audio/text-to-audio",
        Some(json!({"prompt": "rain", "duration": 5, "external_task_id": "ext-t2a-done"})),
    );
    let voice = call(
        "POST",
        "/v1/general/custom-voices",
        Some(
            json!({"voice_name": "seed", "voice_url": "https://example.com/s.mp3",
                    "external_task_id": "ext-cv"}),
        ),
    );
    state.engine.advance(60_000);
    let live = call(
        "POST",
        "/v1/audio/text-to-audio",
        Some(json!({"prompt": "wind", "duration": 3, "external_task_id": "ext-t2a-live"})),
    );
    let tts = call(
        "POST",
        "/v1/audio/tts",
        Some(json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"})),
    );
    let str_at = |v: &Value, ptr: &str| -> String {
        v.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("seeding: no {ptr} in {v}"))
            .to_string()
    };
    let voice_task = str_at(&voice, "/task_id");
    let voice_id = str_at(
        &call(
            "GET",
            &format!("/v1/general/custom-voices/{voice_task}"),
            None,
        ),
        "/task_result/voices/0/voice_id",
    );
    let done_task = call("GET", "/v1/audio/text-to-audio/ext-t2a-done", None);
    let presets = call("GET", "/v1/general/presets-voices?pageSize=1", None);
    let file = |url: String| {
        let name = url.rsplit('/').next().unwrap_or_default();
        name.split('?').next().unwrap_or_default().to_string()
    };
    let known = Known {
        ids: vec![
            str_at(&done, "/task_id"),
            str_at(&live, "/task_id"),
            voice_task,
            voice_id,
            "ext-t2a-done".into(),
            "ext-t2a-live".into(),
            "ext-cv".into(),
            str_at(&presets, "/0/task_result/voices/0/voice_id"),
        ],
        media: vec![
            file(str_at(&tts, "/task_result/audios/0/url")),
            file(str_at(&done_task, "/task_result/audios/0/url_mp3")),
            file(str_at(&done_task, "/task_result/audios/0/url_wav")),
            file(str_at(&presets, "/0/task_result/voices/0/trial_url")),
        ],
    };
    assert_eq!(
        (known.ids.len(), known.media.len()),
        (KNOWN_IDS, KNOWN_MEDIA)
    );
    known
}

/// The top-level keys whose values differ.
pub(super) fn diff(a: &Value, b: &Value) -> String {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return format!("{a} -> {b}");
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("  {k}: {v} -> {}", b.get(k).unwrap_or(&Value::Null)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
pub(super) fn hostile_requests_to_every_route_answer_a_documented_envelope_and_leave_state_alone() {
    let cases = env_count("KLING_HOSTILE_CASES", 1_500);
    let seed = std::env::var("KLING_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let harness = Harness::new();
    let auths = auth_values();
    let one = request_strategy(&harness.routes, &auths);
    let case = prop_oneof![
        7 => proptest::collection::vec(one.clone(), 1..=1),
        3 => proptest::collection::vec(one, 2..=3),
    ];
    let harness = RefCell::new(harness);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // ChaCha unoptimised (the test profile) costs more than the requests themselves.
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        max_shrink_iters: 4_000,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&case, |c| harness.borrow_mut().run(&c));
    let took = started.elapsed();
    let h = harness.borrow();
    println!(
        "hostile (in process): {cases} cases, {} requests in {:.1} s ({:.0} cases/s), seed {seed} \
         (KLING_HOSTILE_SEED), {} restores; codes {:?}, raw answers {}",
        h.stats.requests,
        took.as_secs_f64(),
        cases as f64 / took.as_secs_f64(),
        h.stats.restores,
        h.stats.by_code,
        h.stats.raw,
    );
    if let Err(e) = result {
        panic!("{e}\nreplay: KLING_HOSTILE_SEED={seed} KLING_HOSTILE_CASES={cases}");
    }
}
