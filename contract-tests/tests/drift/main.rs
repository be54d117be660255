//! Proof that the harness catches drift: a proxy between the harness and an in-process kling-mock
//! breaks the mock's answers in exactly one way per test (a [`Mutation`]: a dropped field, a
//! changed code or HTTP status, a page out of order, a regressed status, an invalid request
//! accepted, a task leaked across accounts, ...), and the one property that checks that aspect
//! must then fail. A baseline test runs every property through an honest proxy, so a failure
//! cannot be blamed on the proxy itself.
//!
//! The tests are plain `#[test]`s: the harness is synchronous and owns its tokio runtime (the
//! proxy runs on it too).

mod mutations;
mod proxy;

use kling_contract::report::Outcome;
use kling_contract::{Options, Run};
use mutations::Mutation;

/// One run seed for every test, so a failure here replays exactly.
const SEED: u64 = 7;

/// Run `properties` (all when empty) with `cases` cases each, through a proxy applying `mutation`.
fn run_through(mutation: Mutation, properties: &[&str], cases: u32) -> Run {
    run_through_families(mutation, properties, cases, &[])
}

/// [`run_through`] checking only `families` (all when empty).
fn run_through_families(
    mutation: Mutation,
    properties: &[&str],
    cases: u32,
    families: &[&str],
) -> Run {
    let opts = Options {
        cases,
        seed: Some(SEED),
        properties: properties.iter().map(|p| p.to_string()).collect(),
        families: families.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    };
    let mut target = kling_contract::target(&opts).expect("an in-process mock starts");
    let upstream = target.base_url.clone();
    target.base_url = proxy::start(target.runtime_handle(), upstream, mutation);
    kling_contract::run_on(target, &opts).expect("the run starts")
}

/// Run `property` alone through a proxy applying `mutation`; it must fail, and its message must
/// mention `mentions`. The failure message is returned for further checks.
#[track_caller]
fn assert_caught(property: &str, mutation: Mutation, cases: u32, mentions: &str) -> String {
    assert_caught_in(property, mutation, cases, mentions, &[])
}

/// [`assert_caught`] checking only `families` (all when empty).
#[track_caller]
fn assert_caught_in(
    property: &str,
    mutation: Mutation,
    cases: u32,
    mentions: &str,
    families: &[&str],
) -> String {
    let run = run_through_families(mutation, &[property], cases, families);
    let report = run.report(property).expect("the property ran");
    let Outcome::Failed { message, .. } = &report.outcome else {
        panic!(
            "{property} did not catch {mutation:?}: {:?}",
            report.outcome
        );
    };
    assert!(
        message.contains(mentions),
        "{property} failed under {mutation:?}, but its message does not mention {mentions:?}:\n{message}"
    );
    message.clone()
}

#[test]
fn every_property_passes_through_an_honest_proxy() {
    let run = run_through(Mutation::None, &[], 12);
    assert_eq!(
        run.reports.len(),
        kling_contract::properties::ALL.len(),
        "{:#?}",
        run.reports
    );
    for r in &run.reports {
        assert!(
            matches!(r.outcome, Outcome::Passed { .. }),
            "{} did not pass through the honest proxy: {:#?}",
            r.name,
            r.outcome
        );
    }
}

// ---- envelope ------------------------------------------------------------------------------

#[test]
fn envelope_fails_when_request_id_is_dropped() {
    assert_caught("envelope", Mutation::DropRequestId, 8, "request_id");
}

#[test]
fn envelope_fails_when_a_bad_request_comes_back_as_http_200() {
    assert_caught(
        "envelope",
        Mutation::BadRequestsAs200,
        16,
        "must come with HTTP 400, got 200",
    );
}

// ---- validation ----------------------------------------------------------------------------

#[test]
fn validation_fails_when_an_invalid_create_is_accepted() {
    assert_caught(
        "validation",
        Mutation::AcceptInvalidCreates,
        16,
        "the target accepted it",
    );
}

// ---- auth ----------------------------------------------------------------------------------

#[test]
fn auth_fails_when_an_expired_token_gets_the_invalid_token_code() {
    // One auth case in eight is an expired token: 96 cases miss it with odds of about 1e-6.
    assert_caught(
        "auth",
        Mutation::ExpiredTokenAsInvalid,
        96,
        "token case 'expired' must be HTTP 401 with code 1004",
    );
}

#[test]
fn auth_fails_when_auth_errors_come_back_as_http_403() {
    assert_caught(
        "auth",
        Mutation::AuthErrorsAs403,
        8,
        "must come with HTTP 401, got 403",
    );
}

// ---- lifecycle -----------------------------------------------------------------------------

#[test]
fn lifecycle_fails_when_a_succeeded_task_goes_back_to_processing() {
    assert_caught(
        "lifecycle",
        Mutation::RegressSucceededTasks,
        48,
        "status went back from succeed to processing",
    );
}

// ---- identity ------------------------------------------------------------------------------

#[test]
fn identity_fails_when_the_external_id_lookup_answers_another_created_at() {
    assert_caught(
        "identity",
        Mutation::ExternalIdShiftsCreatedAt,
        4,
        "created_at differs between the two queries",
    );
}

#[test]
fn identity_fails_when_a_duplicate_external_task_id_is_accepted() {
    assert_caught(
        "identity",
        Mutation::AcceptDuplicateExternalId,
        4,
        "a duplicate external_task_id must be 400 / 1201",
    );
}

// ---- paging --------------------------------------------------------------------------------

#[test]
fn paging_fails_when_a_page_comes_back_out_of_order() {
    assert_caught("paging", Mutation::ReversePages, 12, "not newest first");
}

#[test]
fn paging_fails_when_the_newest_item_of_every_page_is_lost() {
    assert_caught(
        "paging",
        Mutation::DropFirstItemOfPages,
        12,
        "created just now is on no page",
    );
}

// ---- isolation -----------------------------------------------------------------------------

#[test]
fn isolation_fails_when_a_task_leaks_to_another_account_by_id() {
    assert_caught(
        "isolation",
        Mutation::LeakTaskByIdAcrossAccounts,
        4,
        "the second account found the first's task",
    );
}

#[test]
fn isolation_fails_when_a_task_leaks_into_another_accounts_list() {
    assert_caught(
        "isolation",
        Mutation::LeakTaskIntoOtherAccountsList,
        4,
        "the first account's task is in the second's list",
    );
}

// ---- voices --------------------------------------------------------------------------------

#[test]
fn voices_fails_when_a_refused_delete_is_answered_as_done() {
    // One voices case in five is the custom voice round trip, which tries the refused deletes.
    let message = assert_caught("voices", Mutation::DeleteVoiceAlwaysSucceeds, 48, "delete");
    assert!(
        message.contains("another account deleted the voice")
            || message.contains("a preset voice was deleted"),
        "{message}"
    );
}

// ---- callbacks -----------------------------------------------------------------------------

#[test]
fn callbacks_fail_when_the_processing_callback_is_lost() {
    assert_caught(
        "callbacks",
        Mutation::CallbacksLoseProcessing,
        4,
        "status processing was seen by polling but never called back",
    );
}

#[test]
fn callbacks_fail_when_the_final_query_differs_from_the_final_callback() {
    assert_caught(
        "callbacks",
        Mutation::FinalQueryDiffersFromCallback,
        4,
        "the final callback differs from the final query",
    );
}

// ---- media ---------------------------------------------------------------------------------

#[test]
fn media_fails_when_declared_durations_are_a_second_too_long() {
    let message = assert_caught("media", Mutation::StretchDurations, 4, "declared");
    assert!(message.contains("plays"), "{message}");
}

// ---- the video families ---------------------------------------------------------------------

#[test]
fn validation_fails_when_the_capability_map_is_not_enforced() {
    // One body case in a few hundred breaks the capability map; validation cases are cheap.
    // Only the families with a capability map: the others' creates dilute the cases.
    let message = assert_caught_in(
        "validation",
        Mutation::CapabilityMapNotEnforced,
        600,
        "(capability map)",
        &[
            "text2video",
            "image2video",
            "multi_image2video",
            "video_extend",
            "motion_control",
            "omni_video",
        ],
    );
    assert!(message.contains("the target accepted it"), "{message}");
}

#[test]
fn validation_fails_when_a_refusal_for_a_rule_names_no_field() {
    assert_caught(
        "validation",
        Mutation::VideoRefusalsNameNothing,
        200,
        "names none of the fields",
    );
}

#[test]
fn media_fails_when_a_video_has_the_wrong_frame_size() {
    if !kling_contract::video::available() {
        eprintln!("skipped: no ffprobe/ffmpeg");
        return;
    }
    assert_caught(
        "media",
        Mutation::WrongFrameSize,
        12,
        "has frame size 64x64",
    );
}

#[test]
fn media_fails_when_a_video_is_shorter_than_declared() {
    if !kling_contract::video::available() {
        eprintln!("skipped: no ffprobe/ffmpeg");
        return;
    }
    let message = assert_caught("media", Mutation::ShortVideos, 12, "declared");
    assert!(message.contains("plays 1.0"), "{message}");
}

// ---- issue 19: video to audio, effects, image recognition, video references -------------------

#[test]
fn media_fails_when_a_video_to_audio_result_has_no_sound_track() {
    if !kling_contract::video::available() {
        eprintln!("skipped: no ffprobe/ffmpeg");
        return;
    }
    assert_caught_in(
        "media",
        Mutation::SilentVideoToAudio,
        12,
        "has no audio stream",
        &["video_to_audio"],
    );
}

#[test]
fn media_fails_when_a_lip_sync_result_is_its_silent_source() {
    if !kling_contract::video::available() {
        eprintln!("skipped: no ffprobe/ffmpeg");
        return;
    }
    assert_caught_in(
        "media",
        Mutation::SilentVideoToAudio,
        12,
        "has no audio stream",
        &["lip_sync"],
    );
}

#[test]
fn validation_fails_when_effects_accept_a_dual_scene_with_one_image() {
    assert_caught_in(
        "validation",
        Mutation::EffectsAcceptOneImage,
        400,
        "input.images needs at least 2 items",
        &["effects"],
    );
}

#[test]
fn references_fail_when_any_video_id_is_accepted() {
    assert_caught_in(
        "references",
        Mutation::AcceptAnyVideoId,
        8,
        "must be 400 / 1201",
        &["video_to_audio"],
    );
}

#[test]
fn media_fails_when_a_recognition_mask_is_not_a_picture() {
    assert_caught_in(
        "media",
        Mutation::MasksNotImages,
        16,
        "mask",
        &["video_to_audio"],
    );
}

#[test]
fn media_fails_when_watermark_url_is_missing() {
    assert_caught(
        "media",
        Mutation::DropWatermarkUrl,
        24,
        "the result has no watermark_url",
    );
}

#[test]
fn lifecycle_fails_when_a_video_task_says_running() {
    assert_caught("lifecycle", Mutation::VideoStatusRunning, 24, "running");
}

// ---- the image families and elements ---------------------------------------------------------

/// The image family every image drift case runs on (the first the mock served).
const IMAGES: &[&str] = &["image_generation"];

#[test]
fn media_fails_when_an_image_has_the_wrong_size() {
    assert_caught_in("media", Mutation::WrongImageSize, 8, "64x64", IMAGES);
}

#[test]
fn media_fails_when_a_task_returns_fewer_images_than_n() {
    // Valid bodies ask for n = 2..9 in most cases that send n at all.
    let message = assert_caught_in("media", Mutation::FewerImages, 24, "images,", IMAGES);
    assert!(message.contains("asked for"), "{message}");
}

#[test]
fn media_fails_when_watermark_url_is_the_plain_url() {
    assert_caught_in(
        "media",
        Mutation::WatermarkIsUrl,
        12,
        "watermark_url is url",
        IMAGES,
    );
}

#[test]
fn elements_fails_when_a_deleted_element_is_still_accepted() {
    assert_caught_in(
        "elements",
        Mutation::AcceptDeletedElements,
        8,
        "a deleted element in element_list must be 400 / 1201",
        &["advanced_custom_elements", "image_generation"],
    );
}

// ---- multi-elements video editing (kling-api.md §5.6) ----------------------------------------

#[test]
fn selection_fails_when_a_png_mask_is_not_the_videos_size() {
    assert_caught_in(
        "selection",
        Mutation::PngMaskOtherSize,
        2,
        "png_mask.size",
        &["multi_elements"],
    );
}

#[test]
fn media_fails_when_a_multi_elements_video_has_no_session_id() {
    assert_caught_in(
        "media",
        Mutation::DropSessionIdFromResults,
        8,
        "session_id: missing",
        &["multi_elements"],
    );
}

#[test]
fn validation_fails_when_a_swap_with_two_images_is_accepted() {
    // A swap with two or three images is one body case in a few hundred.
    let message = assert_caught_in(
        "validation",
        Mutation::AcceptSwapWithTwoImages,
        1500,
        "the target accepted it",
        &["multi_elements"],
    );
    assert!(message.contains("image_list"), "{message}");
}

#[test]
fn references_fail_when_any_session_is_accepted() {
    assert_caught_in(
        "references",
        Mutation::AcceptAnySession,
        8,
        "session_id must be 400 / 1201",
        &["multi_elements"],
    );
}
