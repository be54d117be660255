//! Unit tests of the generators against the oracle: valid bodies are accepted, every mutation is
//! refused, every rule and capability break is reached.

use super::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

#[test]
fn valid_bodies_are_accepted_by_the_oracle() {
    let c = Contract::load().unwrap();
    let mut r = TestRunner::deterministic();
    for e in c.creates() {
        let s = valid_body(&c, &e);
        for _ in 0..100 {
            let b = s
                .new_tree(&mut r)
                .unwrap_or_else(|err| panic!("{e}: {err}"))
                .current();
            assert!(
                c.judge(&e, &b).accepted(),
                "{e}: {b} -> {:?}",
                c.judge(&e, &b)
            );
        }
    }
}

#[test]
fn every_mutation_but_none_and_range_rounding_is_refused_by_the_oracle() {
    let c = Contract::load().unwrap();
    let mut r = TestRunner::deterministic();
    let s = body_case(&c, &c.creates());
    let (mut refused, mut accepted) = (0, 0);
    for _ in 0..3000 {
        let case = s.new_tree(&mut r).unwrap().current();
        let v = c.judge(&case.endpoint, &case.body);
        let speed = matches!(&case.mutation, Mutation::OutOfRange(n, _) | Mutation::TooManyDecimals(n, _) if n == "voice_speed");
        let may_pass = case.mutation == Mutation::None
            || speed
            || matches!(&case.mutation, Mutation::SwapLanguage);
        if !may_pass {
            assert!(!v.accepted(), "{case:?} should be refused");
        }
        if v.accepted() {
            accepted += 1
        } else {
            refused += 1
        }
    }
    assert!(
        refused > 1000 && accepted > 100,
        "a mix: {refused} refused, {accepted} accepted"
    );
}

/// How often a drawn body is valid before the oracle's filter (the filter must not starve).
#[test]
fn repaired_draws_are_mostly_valid() {
    use crate::bodies::GenOpts;
    let c = Contract::load().unwrap();
    for e in c.creates() {
        let ep = c.endpoint(&e);
        let mut r = TestRunner::deterministic();
        let mut ok = 0;
        let mut why = std::collections::BTreeMap::<String, usize>::new();
        let s = crate::bodies::raw_body(&c, &e, GenOpts::default());
        for _ in 0..300 {
            let b = s.new_tree(&mut r).unwrap().current();
            match c.judge(&e, &b) {
                Verdict::Accept => ok += 1,
                Verdict::Reject(x) => {
                    *why.entry(x.reasons[0].why.chars().take(60).collect())
                        .or_default() += 1
                }
            }
        }
        let _ = ep;
        assert!(
            ok > 90,
            "{e}: only {ok}/300 drawn bodies are valid; first reasons: {why:#?}"
        );
    }
}

/// Every rule of every endpoint (nested ones included) and every capability break can be
/// broken on some valid body, and the oracle then refuses it for that reason.
#[test]
fn every_rule_and_capability_break_is_reachable() {
    let c = Contract::load().unwrap();
    for e in c.creates() {
        let mut r = TestRunner::deterministic();
        let s = valid_body(&c, &e);
        let bodies: Vec<Value> = (0..40)
            .map(|_| s.new_tree(&mut r).unwrap().current())
            .collect();
        let mut muts: Vec<Mutation> = rule_targets(&c, &e)
            .into_iter()
            .flat_map(|(at, rule, ways)| {
                (0..ways).map(move |how| Mutation::BreakRule {
                    at: at.clone(),
                    rule,
                    how,
                })
            })
            .collect();
        muts.extend(
            capability_breaks(&c, &e)
                .into_iter()
                .map(Mutation::Capability),
        );
        for m in muts {
            let hit = bodies
                .iter()
                .any(|b| apply(&c, &e, b.clone(), &m).is_some_and(|x| aimed(&c, &e, &x, &m)));
            assert!(hit, "{e}: {m:?} never breaks a valid body");
        }
    }
}

#[test]
fn valid_bodies_cover_models_and_the_forms_real_clients_send() {
    let c = Contract::load().unwrap();
    let mut r = TestRunner::deterministic();
    let s = valid_body(&c, "text2video_create");
    let bodies: Vec<Value> = (0..400)
        .map(|_| s.new_tree(&mut r).unwrap().current())
        .collect();
    let models: std::collections::BTreeSet<&str> = bodies
        .iter()
        .filter_map(|b| b["model_name"].as_str())
        .collect();
    assert!(models.len() >= 6, "{models:?}");
    assert!(
        bodies.iter().any(|b| b["duration"].is_number()),
        "duration as a number"
    );
    assert!(
        bodies.iter().any(|b| b["multi_shot"] == "true"),
        "multi_shot as a string"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.get("model").is_some() && b["model"] == b["model_name"])
    );
    assert!(bodies.iter().any(|b| b.get("camera_control").is_some()));
    assert!(bodies.iter().any(|b| b["sound"] == "on"));
    let cheap = crate::bodies::valid_body(
        &c,
        "text2video_create",
        crate::bodies::GenOpts { cheap: true },
    );
    for _ in 0..50 {
        let b = cheap.new_tree(&mut r).unwrap().current();
        assert_eq!(c.unit_cost("text2video_create", &b), 1.0, "{b}");
    }
}

#[test]
fn a_stateful_endpoint_gets_only_refused_bodies_and_the_selection_helpers_are_reached() {
    let c = Contract::load().unwrap();
    let mut r = TestRunner::deterministic();
    let s = body_case(&c, &c.creates());
    let mut seen = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for _ in 0..3000 {
        let case = s.new_tree(&mut r).unwrap().current();
        let ok = c.judge(&case.endpoint, &case.body).accepted();
        let slot = seen.entry(case.endpoint.clone()).or_default();
        if ok {
            slot.0 += 1;
        } else {
            slot.1 += 1;
        }
        if c.endpoint(&case.endpoint).stateful {
            assert!(
                !ok,
                "{}: {} was generated as valid",
                case.endpoint, case.body
            );
        }
    }
    for e in [
        "multi_elements_delete_selection",
        "multi_elements_clear_selection",
        "multi_elements_preview_selection",
    ] {
        assert!(seen.get(e).is_some_and(|s| s.1 > 0), "{e}: {seen:?}");
    }
    for e in ["multi_elements_add_selection", "multi_elements_create"] {
        assert!(
            seen.get(e).is_some_and(|s| s.0 > 0 && s.1 > 0),
            "{e}: {seen:?}"
        );
    }
}

#[test]
fn a_number_with_only_a_lower_bound_is_broken_below_it() {
    let c = Contract::load().unwrap();
    let mut r = TestRunner::deterministic();
    let s = body_case(&c, &["multi_elements_add_selection"]);
    let below = (0..2000)
        .map(|_| s.new_tree(&mut r).unwrap().current())
        .any(|case| matches!(&case.mutation, Mutation::OutOfRange(p, v) if p == "frame_index" && *v < 0.0));
    assert!(below, "no negative frame_index was generated");
}
