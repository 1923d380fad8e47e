//! The search space's unit-cube encoding and the built-in strategies (grid, line, random,
//! sobol), checked through the library's public API: what a user would notice in the values a
//! run receives and in the combinations a search creates.

use hpsearch::config::ModelConfig;
use hpsearch::space::{Domain, Hyperparameter, Space, Transformation};
use hpsearch::strategy::{
    GridStrategy, LineStrategy, Observation, RandomStrategy, SobolStrategy, Strategy,
    SuggestContext,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as PropStrategy;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn continuous(name: &str, low: f64, high: f64, transformation: Transformation) -> Hyperparameter {
    Hyperparameter::new(name, Domain::Continuous { low, high }, transformation)
}

fn discrete(
    name: &str,
    values: Vec<f64>,
    integer: bool,
    transformation: Transformation,
) -> Hyperparameter {
    Hyperparameter::new(name, Domain::Discrete { values, integer }, transformation)
}

fn categorical(name: &str, values: Vec<Value>) -> Hyperparameter {
    Hyperparameter::new(name, Domain::Categorical { values }, Transformation::Linear)
}

/// The space a model_config.json object describes, as `hpsearch run` would read it.
fn space_from_json(model_config: Value) -> Space {
    let Value::Object(map) = model_config else {
        panic!("model config must be an object");
    };
    ModelConfig::from_map(Path::new("model_config.json"), map)
        .expect("valid model config")
        .space
}

fn context<'a>(
    space: &'a Space,
    finished: &'a [Observation],
    pending: &'a [Vec<f64>],
    sequence: u64,
    seed: u64,
) -> SuggestContext<'a> {
    SuggestContext {
        space,
        finished,
        pending,
        sequence,
        seed,
        full_length: None,
        budget: None,
    }
}

/// Asks `strategy` for suggestions until it returns `None`, passing every earlier suggestion
/// as pending (created, not yet finished) exactly as the coordinator does. Panics if it never
/// stops within `limit` suggestions.
fn enumerate_with_pending(
    strategy: &mut dyn Strategy,
    space: &Space,
    limit: usize,
) -> Vec<Vec<f64>> {
    let mut pending: Vec<Vec<f64>> = Vec::new();
    loop {
        let ctx = context(space, &[], &pending, pending.len() as u64, 7);
        match strategy.suggest(&ctx).expect("suggest succeeds") {
            Some(s) => {
                assert_eq!(
                    s.point.len(),
                    space.dims(),
                    "point has one coordinate per hyperparameter"
                );
                pending.push(s.point);
                assert!(
                    pending.len() <= limit,
                    "strategy did not run out after {limit} suggestions"
                );
            }
            None => return pending,
        }
    }
}

fn decoded_keys(space: &Space, points: &[Vec<f64>]) -> Vec<String> {
    points
        .iter()
        .map(|p| Value::Object(space.decode(p)).to_string())
        .collect()
}

/// Relative closeness for positive magnitudes.
fn close_rel(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

// ---------------------------------------------------------------------------------------------
// Proptest strategies for domains
// ---------------------------------------------------------------------------------------------

/// Linear bounds whose width is not negligible next to their magnitude, so that f64 can hold
/// the unit position of a value to well below 1e-9.
fn linear_bounds() -> impl PropStrategy<Value = (f64, f64)> {
    (-1.0e3..1.0e3f64, 1.0e-2..1.0e4f64).prop_map(|(low, width)| (low, low + width))
}

/// Positive bounds for a log domain, spanning from 1% of a decade to eight decades.
fn log_bounds() -> impl PropStrategy<Value = (f64, f64)> {
    (-8.0..4.0f64, 0.01..8.0f64).prop_map(|(e, decades)| (10f64.powf(e), 10f64.powf(e + decades)))
}

/// Any u at all: in range, out of range, infinite or NaN.
fn any_u() -> impl PropStrategy<Value = f64> {
    prop_oneof![
        0.0..=1.0f64,
        -1.0e6..1.0e6f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0 + f64::EPSILON),
        Just(-f64::MIN_POSITIVE),
        proptest::num::f64::ANY,
    ]
}

/// Sorted, distinct integers, as a discrete domain written with integers holds them.
fn integer_values(positive: bool) -> impl PropStrategy<Value = Vec<f64>> {
    let range = if positive {
        1i64..100_000
    } else {
        -100_000i64..100_000
    };
    proptest::collection::btree_set(range, 1..24)
        .prop_map(|set| set.into_iter().map(|v| v as f64).collect())
}

/// Sorted, distinct non-integer-typed numbers (e.g. 0.25, 1.5, 3.0).
fn float_values(positive: bool) -> impl PropStrategy<Value = Vec<f64>> {
    let range = if positive {
        1i64..4_000
    } else {
        -4_000i64..4_000
    };
    proptest::collection::btree_set(range, 1..24)
        .prop_map(|set| set.into_iter().map(|k| k as f64 * 0.25).collect())
}

/// Continuous bounds with a transformation they admit (log needs positive bounds).
fn bounds_and_transformation() -> impl PropStrategy<Value = ((f64, f64), Transformation)> {
    prop_oneof![
        (linear_bounds(), Just(Transformation::Linear)),
        (log_bounds(), Just(Transformation::Log)),
        (log_bounds(), Just(Transformation::Linear)),
    ]
}

fn transformation() -> impl PropStrategy<Value = Transformation> {
    prop_oneof![Just(Transformation::Linear), Just(Transformation::Log)]
}

/// Distinct JSON values of mixed kinds, as a categorical domain may list them.
fn category_values() -> impl PropStrategy<Value = Vec<Value>> {
    let one = prop_oneof![
        "[a-z]{1,6}".prop_map(Value::from),
        (-50i64..50).prop_map(Value::from),
        (-50i64..50).prop_map(|k| json!(k as f64 + 0.5)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        "[a-z]{1,3}".prop_map(|s| json!([s, 1])),
        "[a-z]{1,3}".prop_map(|s| json!({ "name": s })),
    ];
    proptest::collection::vec(one, 1..12).prop_map(|values| {
        let mut distinct: Vec<Value> = Vec::new();
        for v in values {
            if !distinct.contains(&v) {
                distinct.push(v);
            }
        }
        distinct
    })
}

fn value_as_number(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a JSON number, got {v}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Unit-cube encoding: properties
// ---------------------------------------------------------------------------------------------

proptest! {
    // No regression files: this test file is the only artefact of these tests.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn continuous_linear_decode_stays_within_bounds_for_any_u((low, high) in linear_bounds(), u in any_u()) {
        let h = continuous("x", low, high, Transformation::Linear);
        let x = value_as_number(&h.decode(u));
        prop_assert!(x >= low && x <= high, "decode({u}) = {x} outside [{low}, {high}]");
    }

    #[test]
    fn continuous_log_decode_stays_within_bounds_for_any_u((low, high) in log_bounds(), u in any_u()) {
        let h = continuous("x", low, high, Transformation::Log);
        let x = value_as_number(&h.decode(u));
        prop_assert!(x >= low && x <= high, "decode({u}) = {x} outside [{low}, {high}]");
    }

    #[test]
    fn continuous_decode_maps_the_unit_bounds_to_the_domain_bounds(
        ((low, high), t) in bounds_and_transformation(),
    ) {
        let h = continuous("x", low, high, t);
        // Exact for linear; within rounding of 10^log10(x) for log.
        prop_assert!(close_rel(value_as_number(&h.decode(0.0)), low, 1e-12));
        prop_assert!(close_rel(value_as_number(&h.decode(1.0)), high, 1e-12));
        if t == Transformation::Linear {
            prop_assert_eq!(value_as_number(&h.decode(0.0)), low);
        }
        // Out-of-range points are clamped to the nearest bound.
        prop_assert_eq!(&h.decode(-3.0), &h.decode(0.0));
        prop_assert_eq!(&h.decode(7.0), &h.decode(1.0));
    }

    #[test]
    fn continuous_linear_encode_inverts_decode((low, high) in linear_bounds(), u in 0.0..=1.0f64) {
        let h = continuous("x", low, high, Transformation::Linear);
        let value = h.decode(u);
        let back = h.encode(&value);
        prop_assert!(back.is_some(), "decoded value {value} not accepted by encode");
        let back = back.unwrap();
        prop_assert!((back - u).abs() <= 1e-9, "encode(decode({u})) = {back}");
    }

    #[test]
    fn continuous_log_encode_inverts_decode((low, high) in log_bounds(), u in 0.0..=1.0f64) {
        let h = continuous("x", low, high, Transformation::Log);
        let value = h.decode(u);
        let back = h.encode(&value);
        prop_assert!(back.is_some(), "decoded value {value} not accepted by encode");
        let back = back.unwrap();
        prop_assert!((back - u).abs() <= 1e-9, "encode(decode({u})) = {back}");
    }

    #[test]
    fn continuous_decode_is_monotone_in_u(
        ((low, high), t) in bounds_and_transformation(),
        u in 0.0..=1.0f64,
        v in 0.0..=1.0f64,
    ) {
        let h = continuous("x", low, high, t);
        let (a, b) = (u.min(v), u.max(v));
        prop_assert!(value_as_number(&h.decode(a)) <= value_as_number(&h.decode(b)));
    }

    #[test]
    fn log_decode_of_the_midpoint_is_the_geometric_mean_of_the_bounds((low, high) in log_bounds()) {
        let h = continuous("x", low, high, Transformation::Log);
        let x = value_as_number(&h.decode(0.5));
        let geometric_mean = (low * high).sqrt();
        prop_assert!(close_rel(x, geometric_mean, 1e-9), "decode(0.5) = {x}, sqrt({low} * {high}) = {geometric_mean}");
    }

    #[test]
    fn linear_decode_of_the_midpoint_is_the_arithmetic_mean_of_the_bounds((low, high) in linear_bounds()) {
        let h = continuous("x", low, high, Transformation::Linear);
        let x = value_as_number(&h.decode(0.5));
        prop_assert!((x - (low + high) / 2.0).abs() <= 1e-9 * (high - low));
    }

    #[test]
    fn continuous_encode_rejects_values_outside_the_domain(
        (low, high) in linear_bounds(),
        below in 1e-3..1e3f64,
    ) {
        let h = continuous("x", low, high, Transformation::Linear);
        prop_assert_eq!(h.encode(&json!(low - below)), None);
        prop_assert_eq!(h.encode(&json!(high + below)), None);
        prop_assert_eq!(h.encode(&json!("0.5")), None);
        prop_assert_eq!(h.encode(&Value::Null), None);
    }

    #[test]
    fn integer_discrete_decode_returns_a_member_as_a_json_integer(
        values in integer_values(false),
        u in any_u(),
    ) {
        let h = discrete("k", values.clone(), true, Transformation::Linear);
        let v = h.decode(u);
        prop_assert!(v.is_i64() || v.is_u64(), "decode({u}) = {v} is not a JSON integer");
        prop_assert!(values.contains(&value_as_number(&v)), "decode({u}) = {v} not in {values:?}");
    }

    #[test]
    fn integer_log_discrete_decode_returns_a_member_as_a_json_integer(
        values in integer_values(true),
        u in any_u(),
    ) {
        let h = discrete("k", values.clone(), true, Transformation::Log);
        let v = h.decode(u);
        prop_assert!(v.is_i64() || v.is_u64(), "decode({u}) = {v} is not a JSON integer");
        prop_assert!(values.contains(&value_as_number(&v)), "decode({u}) = {v} not in {values:?}");
    }

    #[test]
    fn float_discrete_decode_returns_a_member_as_a_json_float(
        values in float_values(true),
        t in transformation(),
        u in any_u(),
    ) {
        let h = discrete("k", values.clone(), false, t);
        let v = h.decode(u);
        prop_assert!(v.is_f64(), "decode({u}) = {v} is not a JSON float");
        prop_assert!(values.contains(&value_as_number(&v)), "decode({u}) = {v} not in {values:?}");
    }

    #[test]
    fn discrete_encode_then_decode_gives_back_every_member(
        (values, integer, t) in prop_oneof![
            (integer_values(false), Just(true), Just(Transformation::Linear)),
            (integer_values(true), Just(true), Just(Transformation::Log)),
            (float_values(false), Just(false), Just(Transformation::Linear)),
            (float_values(true), Just(false), Just(Transformation::Log)),
        ],
    ) {
        let h = discrete("k", values.clone(), integer, t);
        for &x in &values {
            let member = if integer { json!(x as i64) } else { json!(x) };
            let u = h.encode(&member);
            prop_assert!(u.is_some(), "member {member} not accepted by encode");
            let u = u.unwrap();
            prop_assert!((0.0..=1.0).contains(&u), "encode({member}) = {u} outside [0, 1]");
            let back = h.decode(u);
            prop_assert_eq!(value_as_number(&back), x, "encode then decode of {} gave {}", member, back);
            prop_assert_eq!(back.is_f64(), !integer);
        }
    }

    #[test]
    fn discrete_decode_picks_the_nearest_member(
        values in integer_values(false),
        u in 0.0..=1.0f64,
    ) {
        let h = discrete("k", values.clone(), true, Transformation::Linear);
        let x = value_as_number(&h.decode(u));
        let (low, high) = (values[0], values[values.len() - 1]);
        let target = if values.len() == 1 { x } else { low + u * (high - low) };
        let best = values.iter().map(|v| (v - target).abs()).fold(f64::INFINITY, f64::min);
        prop_assert!((x - target).abs() <= best + 1e-9 * (high - low).max(1.0),
            "decode({u}) = {x}, but a member is {best} from {target}");
    }

    #[test]
    fn discrete_encode_rejects_non_members(values in integer_values(false)) {
        let h = discrete("k", values.clone(), true, Transformation::Linear);
        let outside = values[values.len() - 1] + 1.0;
        prop_assert_eq!(h.encode(&json!(outside)), None);
        prop_assert_eq!(h.encode(&json!(values[0] + 0.5)), None);
        prop_assert_eq!(h.encode(&json!("1")), None);
    }

    #[test]
    fn categorical_decode_returns_a_member_for_any_u(values in category_values(), u in any_u()) {
        let h = categorical("c", values.clone());
        let v = h.decode(u);
        prop_assert!(values.contains(&v), "decode({u}) = {v} not in {values:?}");
    }

    #[test]
    fn categorical_encode_then_decode_gives_back_every_member(values in category_values()) {
        let h = categorical("c", values.clone());
        for member in &values {
            let u = h.encode(member);
            prop_assert!(u.is_some(), "member {member} not accepted by encode");
            let u = u.unwrap();
            prop_assert!((0.0..=1.0).contains(&u));
            prop_assert_eq!(&h.decode(u), member);
        }
        prop_assert_eq!(h.encode(&json!("not-a-member-because-too-long")), None);
    }

    #[test]
    fn categorical_slices_of_the_unit_interval_have_equal_width(values in category_values(), u in 0.0..1.0f64) {
        // Category i owns [i/k, (i+1)/k): a uniform u picks each category equally often.
        let h = categorical("c", values.clone());
        let k = values.len();
        let i = ((u * k as f64).floor() as usize).min(k - 1);
        prop_assert_eq!(&h.decode(u), &values[i]);
    }

    #[test]
    fn mixed_space_decode_then_encode_round_trips(point in proptest::collection::vec(0.0..=1.0f64, 6)) {
        let space = mixed_space();
        let values = space.decode(&point);
        let names: Vec<&str> = values.keys().map(String::as_str).collect();
        prop_assert_eq!(names, vec!["lr", "layers", "dropout", "activation", "weight_decay", "batch"]);

        let encoded = space.encode(&values);
        prop_assert!(encoded.is_some(), "decoded combination {values:?} not accepted by encode");
        let encoded = encoded.unwrap();
        prop_assert_eq!(encoded.len(), space.dims());
        // Decoding the encoded point gives the same combination.
        prop_assert_eq!(&space.decode(&encoded), &values);
        // Continuous coordinates survive the round trip.
        for d in [0usize, 2] {
            prop_assert!((encoded[d] - point[d]).abs() <= 1e-9, "dim {d}: {} vs {}", encoded[d], point[d]);
        }
        // The canonical point is the encoded combination, and it is a fixed point.
        let canonical = space.canonical(&point);
        prop_assert_eq!(&canonical, &encoded);
        prop_assert_eq!(space.canonical(&canonical), canonical.clone());
        prop_assert_eq!(space.combination_key(&canonical), space.combination_key(&point));
    }

    #[test]
    fn mixed_space_decode_gives_values_inside_every_domain(point in proptest::collection::vec(any_u(), 6)) {
        let space = mixed_space();
        let values = space.decode(&point);
        let lr = value_as_number(&values["lr"]);
        prop_assert!((1e-5..=1e-1).contains(&lr));
        prop_assert!([1, 2, 4, 8, 16].contains(&values["layers"].as_i64().unwrap()));
        let dropout = value_as_number(&values["dropout"]);
        prop_assert!((0.0..=0.5).contains(&dropout));
        prop_assert!(["relu", "tanh", "gelu"].contains(&values["activation"].as_str().unwrap()));
        prop_assert!(values["weight_decay"].is_f64());
        prop_assert!([0.0001, 0.001, 0.01].contains(&value_as_number(&values["weight_decay"])));
        prop_assert!(values["batch"].is_u64() || values["batch"].is_i64());
    }
}

/// A space as a user writes it in model_config.json: log and linear continuous, integer and
/// float discrete, a categorical, and a fixed value that is not a hyperparameter.
fn mixed_space() -> Space {
    space_from_json(json!({
        "lr": {"type": "continuous", "domain": [1e-5, 1e-1], "transformation": "log"},
        "layers": {"type": "discrete", "domain": [16, 1, 4, 2, 8], "transformation": "log"},
        "epochs": 10,
        "dropout": {"type": "continuous", "domain": [0, 0.5]},
        "activation": {"type": "categorical", "domain": ["relu", "tanh", "gelu"]},
        "weight_decay": {"type": "discrete", "domain": [0.0001, 0.001, 0.01], "transformation": "log"},
        "batch": {"type": "discrete", "domain": [32, 64, 128, 256]},
    }))
}

#[test]
fn model_config_discrete_with_one_float_decodes_every_member_as_float() {
    // [0.5, 1, 2]: one value is written as a float, so the whole domain is float.
    let space = space_from_json(json!({
        "scale": {"type": "discrete", "domain": [0.5, 1, 2]},
    }));
    let h = &space.hyperparameters()[0];
    for member in [json!(0.5), json!(1), json!(2.0)] {
        let back = h.decode(h.encode(&member).expect("member"));
        assert!(
            back.is_f64(),
            "{member} decoded as {back}, expected a float"
        );
        assert_eq!(back.as_f64(), member.as_f64());
    }
}

#[test]
fn model_config_integer_discrete_decodes_to_json_integers() {
    let space = space_from_json(json!({
        "units": {"type": "discrete", "domain": [64, 8, 32, 16]},
    }));
    let h = &space.hyperparameters()[0];
    let seen: BTreeSet<i64> = (0..=100)
        .map(|i| {
            let v = h.decode(i as f64 / 100.0);
            assert!(v.is_i64() || v.is_u64(), "{v} is not a JSON integer");
            v.as_i64().unwrap()
        })
        .collect();
    assert_eq!(seen, BTreeSet::from([8, 16, 32, 64]));
    // Written as 16 in the model config, so `16` and `16.0` both name that member.
    assert!(h.encode(&json!(16)).is_some());
    assert!(h.encode(&json!(16.0)).is_some());
}

#[test]
fn space_encode_is_none_when_a_value_is_missing_or_outside_its_domain() {
    let space = mixed_space();
    let mut values: Map<String, Value> = space.decode(&[0.5; 6]);
    assert!(space.encode(&values).is_some());

    let mut missing = values.clone();
    missing.remove("dropout");
    assert_eq!(space.encode(&missing), None);

    values.insert("activation".into(), json!("sigmoid"));
    assert_eq!(space.encode(&values), None);
}

// ---------------------------------------------------------------------------------------------
// 2. Grid
// ---------------------------------------------------------------------------------------------

#[test]
fn grid_of_continuous_zero_to_ten_with_three_points_is_zero_five_ten() {
    let space = Space::new(vec![continuous("x", 0.0, 10.0, Transformation::Linear)]);
    let grid = GridStrategy::new(3);
    let values: Vec<Value> = grid
        .points(&space)
        .iter()
        .map(|p| space.decode(p)["x"].clone())
        .collect();
    assert_eq!(values, vec![json!(0.0), json!(5.0), json!(10.0)]);
    assert_eq!(grid.size(&space), Some(3));
}

#[test]
fn grid_of_log_continuous_spreads_points_evenly_in_decades() {
    let space = Space::new(vec![continuous("lr", 1e-4, 1.0, Transformation::Log)]);
    let values: Vec<f64> = GridStrategy::new(5)
        .points(&space)
        .iter()
        .map(|p| value_as_number(&space.decode(p)["lr"]))
        .collect();
    let expected = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    assert_eq!(values.len(), expected.len());
    for (v, e) in values.iter().zip(expected) {
        assert!(close_rel(*v, e, 1e-9), "{values:?} vs {expected:?}");
    }
}

fn six_values() -> Hyperparameter {
    discrete(
        "k",
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        true,
        Transformation::Linear,
    )
}

fn grid_members(h: &Hyperparameter, n: usize) -> Vec<Value> {
    let space = Space::new(vec![h.clone()]);
    GridStrategy::new(n)
        .points(&space)
        .iter()
        .map(|p| space.decode(p)[&h.name].clone())
        .collect()
}

#[test]
fn grid_of_six_discrete_values_with_three_points_has_three_distinct_members_with_min_and_max() {
    let members = grid_members(&six_values(), 3);
    assert_eq!(members.len(), 3, "{members:?}");
    let distinct: BTreeSet<i64> = members.iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(distinct.len(), 3, "{members:?}");
    assert!(
        distinct.contains(&1) && distinct.contains(&6),
        "{members:?}"
    );
    assert!(distinct.iter().all(|v| (1..=6).contains(v)));
}

#[test]
fn grid_of_six_discrete_values_with_ten_points_has_all_six() {
    let members = grid_members(&six_values(), 10);
    let distinct: BTreeSet<i64> = members.iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(members.len(), 6, "min(n, len) points: {members:?}");
    assert_eq!(distinct, BTreeSet::from([1, 2, 3, 4, 5, 6]));
}

#[test]
fn grid_of_discrete_has_min_of_n_and_len_distinct_members_for_every_n() {
    let h = discrete(
        "k",
        (1..=9).map(|k| (1u64 << k) as f64).collect(),
        true,
        Transformation::Log,
    );
    for n in 1..=12 {
        let members = grid_members(&h, n);
        let distinct: BTreeSet<i64> = members.iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(members.len(), n.min(9), "n = {n}: {members:?}");
        assert_eq!(distinct.len(), n.min(9), "n = {n}: {members:?}");
        if n >= 2 {
            assert!(
                distinct.contains(&2) && distinct.contains(&512),
                "n = {n}: {members:?}"
            );
        }
    }
}

#[test]
fn grid_of_categorical_uses_every_value_whatever_n() {
    let values = vec![json!("relu"), json!("tanh"), json!("gelu"), json!("silu")];
    let h = categorical("act", values.clone());
    for n in [1, 2, 3, 4, 10] {
        assert_eq!(grid_members(&h, n), values, "n = {n}");
    }
}

fn grid_test_space() -> Space {
    Space::new(vec![
        continuous("x", 0.0, 10.0, Transformation::Linear),
        six_values(),
        categorical("act", vec![json!("relu"), json!("tanh")]),
        continuous("lr", 1e-3, 1e-1, Transformation::Log),
    ])
}

#[test]
fn a_grid_of_many_hyperparameters_suggests_without_making_every_point() {
    // 20 hyperparameters at 3 points: 3.5·10⁹ points, which the grid used to make in full at
    // every suggestion (hundreds of GB); 50 at 3: more than u64 counts.
    let space = Space::new(
        (0..20)
            .map(|i| continuous(&format!("h{i}"), 0.0, 1.0, Transformation::Linear))
            .collect(),
    );
    let mut grid = GridStrategy::new(3);
    assert_eq!(grid.size(&space), Some(3u64.pow(20)));
    let first = grid
        .suggest(&context(&space, &[], &[], 0, 0))
        .unwrap()
        .expect("a first point");
    assert_eq!(first.point, vec![0.0; 20]);
    let finished = [Observation::whole(first.point.clone(), Some(1.0))];
    let second = grid
        .suggest(&context(&space, &finished, &[], 1, 0))
        .unwrap()
        .expect("a second point");
    let mut expected = vec![0.0; 20];
    expected[19] = 0.5;
    assert_eq!(
        second.point, expected,
        "the last hyperparameter moves fastest"
    );
    let wide = Space::new(
        (0..50)
            .map(|i| continuous(&format!("h{i}"), 0.0, 1.0, Transformation::Linear))
            .collect(),
    );
    assert_eq!(grid.size(&wide), None, "no finite size to plan with");
}

#[test]
fn grid_size_is_the_product_of_the_axis_sizes() {
    let space = grid_test_space();
    for n in [1usize, 2, 3, 4, 7] {
        let grid = GridStrategy::new(n);
        let expected = (n as u64) * (n.min(6) as u64) * 2 * (n as u64);
        assert_eq!(grid.size(&space), Some(expected), "n = {n}");
        let points = grid.points(&space);
        assert_eq!(points.len() as u64, expected, "n = {n}");
        let keys: HashSet<String> = decoded_keys(&space, &points).into_iter().collect();
        assert_eq!(
            keys.len() as u64,
            expected,
            "n = {n}: grid combinations are distinct"
        );
    }
}

#[test]
fn grid_suggest_with_pending_enumerates_every_point_once_then_returns_none() {
    let space = grid_test_space();
    let mut grid = GridStrategy::new(3);
    let size = grid.size(&space).unwrap() as usize;
    assert_eq!(size, 3 * 3 * 2 * 3);

    let suggested = enumerate_with_pending(&mut grid, &space, size + 1);
    assert_eq!(suggested.len(), size);
    let keys = decoded_keys(&space, &suggested);
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), size, "a grid point was suggested twice");
    let expected: HashSet<String> = decoded_keys(&space, &GridStrategy::new(3).points(&space))
        .into_iter()
        .collect();
    assert_eq!(keys.into_iter().collect::<HashSet<_>>(), expected);

    // Once exhausted it stays exhausted, whatever the sequence number.
    let ctx = context(&space, &[], &suggested, 999, 1);
    assert_eq!(grid.suggest(&ctx).unwrap(), None);
}

#[test]
fn grid_suggest_skips_combinations_already_finished_or_pending() {
    let space = grid_test_space();
    let mut grid = GridStrategy::new(2);
    let all = grid.points(&space);
    // Half of the grid has finished (some failed), a quarter is still running.
    let finished: Vec<Observation> = all
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(i, p)| Observation::whole(p.clone(), if i % 3 == 0 { None } else { Some(i as f64) }))
        .collect();
    let pending: Vec<Vec<f64>> = all.iter().skip(1).step_by(4).cloned().collect();
    let mut created: HashSet<String> = decoded_keys(&space, &pending).into_iter().collect();
    created.extend(finished.iter().map(|o| space.combination_key(&o.point)));

    let mut pending = pending;
    let mut new = Vec::new();
    loop {
        let ctx = context(
            &space,
            &finished,
            &pending,
            (finished.len() + pending.len()) as u64,
            3,
        );
        let Some(s) = grid.suggest(&ctx).unwrap() else {
            break;
        };
        let key = space.combination_key(&s.point);
        assert!(!created.contains(&key), "suggested {key} again");
        assert_eq!(s.label, "grid");
        created.insert(key);
        pending.push(s.point.clone());
        new.push(s.point);
        assert!(new.len() <= all.len());
    }
    assert_eq!(created.len(), all.len());
    assert_eq!(
        new.len(),
        all.len() - finished.len() - all.iter().skip(1).step_by(4).count()
    );
}

#[test]
fn grid_from_model_config_enumerates_every_combination_of_the_values() {
    let space = space_from_json(json!({
        "optimizer": {"type": "categorical", "domain": ["adam", "sgd"]},
        "layers": {"type": "discrete", "domain": [1, 2, 3]},
        "dropout": {"type": "continuous", "domain": [0.0, 0.4]},
    }));
    let mut grid = GridStrategy::new(3);
    let suggested = enumerate_with_pending(&mut grid, &space, 100);
    let combos: BTreeSet<String> = suggested
        .iter()
        .map(|p| {
            let v = space.decode(p);
            format!("{} {} {}", v["optimizer"], v["layers"], v["dropout"])
        })
        .collect();
    let mut expected = BTreeSet::new();
    for o in ["\"adam\"", "\"sgd\""] {
        for l in [1, 2, 3] {
            for d in ["0.0", "0.2", "0.4"] {
                expected.insert(format!("{o} {l} {d}"));
            }
        }
    }
    assert_eq!(combos, expected);
    // First hyperparameter varies slowest, as in the results table.
    let first = space.decode(&suggested[0]);
    let last = space.decode(suggested.last().unwrap());
    assert_eq!(first["optimizer"], json!("adam"));
    assert_eq!(last["optimizer"], json!("sgd"));
}

// ---------------------------------------------------------------------------------------------
// 3. Line
// ---------------------------------------------------------------------------------------------

fn line_test_space() -> Space {
    Space::new(vec![
        continuous("x", 0.0, 10.0, Transformation::Linear),
        continuous("lr", 1e-4, 1.0, Transformation::Log),
        discrete(
            "k",
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
            true,
            Transformation::Linear,
        ),
        categorical("act", vec![json!("relu"), json!("tanh"), json!("gelu")]),
    ])
}

#[test]
fn line_first_suggestion_is_the_middle_of_every_hyperparameter() {
    let space = line_test_space();
    let mut line = LineStrategy::new(3);
    let first = line
        .suggest(&context(&space, &[], &[], 0, 0))
        .unwrap()
        .expect("a first suggestion");
    assert_eq!(first.label, "line");
    // Continuous hyperparameters sit at the middle of the unit interval.
    assert_eq!(first.point[0], 0.5);
    assert_eq!(first.point[1], 0.5);
    let base = space.decode(&first.point);
    assert_eq!(base["x"], json!(5.0));
    assert!(
        close_rel(value_as_number(&base["lr"]), 1e-2, 1e-9),
        "{}",
        base["lr"]
    );
    // Discrete and categorical take their middle member.
    assert_eq!(base["k"], json!(3));
    assert_eq!(base["act"], json!("tanh"));
}

#[test]
fn line_base_of_an_even_list_is_one_of_its_two_middle_members() {
    let space = Space::new(vec![
        discrete("k", vec![1.0, 2.0, 4.0, 8.0], true, Transformation::Log),
        categorical("c", vec![json!("a"), json!("b"), json!("c"), json!("d")]),
    ]);
    let first = LineStrategy::new(3)
        .suggest(&context(&space, &[], &[], 0, 0))
        .unwrap()
        .unwrap();
    let base = space.decode(&first.point);
    assert!([json!(2), json!(4)].contains(&base["k"]), "{}", base["k"]);
    assert!(
        [json!("b"), json!("c")].contains(&base["c"]),
        "{}",
        base["c"]
    );
}

fn differing_hyperparameters(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn line_later_suggestions_each_differ_from_the_base_in_exactly_one_hyperparameter() {
    let space = line_test_space();
    let mut line = LineStrategy::new(3);
    let suggested = enumerate_with_pending(&mut line, &space, 1000);
    let base = space.decode(&suggested[0]);
    for p in &suggested[1..] {
        let values = space.decode(p);
        let diff = differing_hyperparameters(&base, &values);
        assert_eq!(
            diff.len(),
            1,
            "{values:?} differs from the base {base:?} in {diff:?}"
        );
    }
}

#[test]
fn line_count_is_one_plus_the_sum_of_grid_lengths_minus_one_when_the_base_lies_on_every_grid() {
    // n = 3: continuous grids {0, 0.5, 1} hold the middle; the discrete grid of 5 values is
    // {1, 3, 5} and holds 3; a categorical grid holds every value.
    let space = line_test_space();
    let mut line = LineStrategy::new(3);
    let expected = 1 + (3 - 1) + (3 - 1) + (3 - 1) + (3 - 1);
    assert_eq!(line.size(&space), Some(expected));
    let suggested = enumerate_with_pending(&mut line, &space, 1000);
    assert_eq!(suggested.len() as u64, expected);
    let keys: HashSet<String> = decoded_keys(&space, &suggested).into_iter().collect();
    assert_eq!(
        keys.len() as u64,
        expected,
        "a combination was suggested twice"
    );
    let ctx = context(&space, &[], &suggested, expected, 0);
    assert_eq!(line.suggest(&ctx).unwrap(), None);
}

#[test]
fn line_count_for_all_continuous_space_with_odd_n() {
    for dims in 1..=4usize {
        for n in [1usize, 3, 5, 7] {
            let space = Space::new(
                (0..dims)
                    .map(|d| {
                        let t = if d % 2 == 0 {
                            Transformation::Linear
                        } else {
                            Transformation::Log
                        };
                        continuous(&format!("h{d}"), 0.1, 100.0, t)
                    })
                    .collect(),
            );
            let mut line = LineStrategy::new(n);
            let expected = 1 + dims * (n - 1);
            let suggested = enumerate_with_pending(&mut line, &space, 1000);
            assert_eq!(suggested.len(), expected, "dims = {dims}, n = {n}");
            assert_eq!(
                line.size(&space),
                Some(expected as u64),
                "dims = {dims}, n = {n}"
            );
            assert!(
                suggested[0].iter().all(|u| *u == 0.5),
                "base is the middle: {:?}",
                suggested[0]
            );
        }
    }
}

#[test]
fn line_every_grid_value_of_a_hyperparameter_appears_on_its_line() {
    let space = line_test_space();
    let mut line = LineStrategy::new(3);
    let suggested = enumerate_with_pending(&mut line, &space, 1000);
    let seen_k: BTreeSet<i64> = suggested
        .iter()
        .map(|p| space.decode(p)["k"].as_i64().unwrap())
        .collect();
    assert_eq!(seen_k, BTreeSet::from([1, 3, 5]));
    let seen_act: BTreeSet<String> = suggested
        .iter()
        .map(|p| space.decode(p)["act"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        seen_act,
        BTreeSet::from(["relu".into(), "tanh".into(), "gelu".into()])
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Random and Sobol
// ---------------------------------------------------------------------------------------------

fn unit_space(dims: usize) -> Space {
    Space::new(
        (0..dims)
            .map(|d| continuous(&format!("h{d}"), 0.0, 1.0, Transformation::Linear))
            .collect(),
    )
}

fn suggest_point(strategy: &mut dyn Strategy, space: &Space, sequence: u64, seed: u64) -> Vec<f64> {
    strategy
        .suggest(&context(space, &[], &[], sequence, seed))
        .unwrap()
        .expect("random strategies never run out")
        .point
}

fn check_reproducible_and_varied(make: fn() -> Box<dyn Strategy>, label: &str) {
    let space = unit_space(3);
    for seed in [0u64, 1, 42, 0xdead_beef, u64::MAX] {
        let mut points = Vec::new();
        for sequence in 0..200u64 {
            // A fresh strategy object (a resumed search) gives the very same point.
            let a = suggest_point(make().as_mut(), &space, sequence, seed);
            let b = suggest_point(make().as_mut(), &space, sequence, seed);
            assert_eq!(
                a, b,
                "{label}: seed {seed}, sequence {sequence} not reproducible"
            );
            assert_eq!(a.len(), 3);
            assert!(
                a.iter().all(|u| (0.0..=1.0).contains(u)),
                "{label}: {a:?} outside the unit cube"
            );
            points.push(a);
        }
        for i in 0..points.len() {
            for j in 0..i {
                assert_ne!(
                    points[i], points[j],
                    "{label}: seed {seed}, sequences {i} and {j} gave the same point"
                );
            }
        }
    }
    // Different seeds give different searches.
    let a = suggest_point(make().as_mut(), &space, 5, 1);
    let b = suggest_point(make().as_mut(), &space, 5, 2);
    assert_ne!(a, b, "{label}: seeds 1 and 2 gave the same point");
    // The label names the strategy in the data file.
    let s = make()
        .suggest(&context(&space, &[], &[], 0, 0))
        .unwrap()
        .unwrap();
    assert_eq!(s.label, label);
}

#[test]
fn random_same_seed_and_sequence_give_the_same_point_and_different_sequences_differ() {
    check_reproducible_and_varied(|| Box::new(RandomStrategy), "random");
}

#[test]
fn sobol_same_seed_and_sequence_give_the_same_point_and_different_sequences_differ() {
    check_reproducible_and_varied(|| Box::new(SobolStrategy), "sobol");
}

#[test]
fn random_and_sobol_suggestions_do_not_depend_on_earlier_combinations() {
    // What a point is depends on (seed, sequence) only, not on what finished or is pending.
    let space = unit_space(2);
    let finished = vec![Observation::whole(vec![0.1, 0.2], Some(1.0))];
    let pending = vec![vec![0.3, 0.4]];
    for make in [
        (|| Box::new(RandomStrategy) as Box<dyn Strategy>) as fn() -> Box<dyn Strategy>,
        || Box::new(SobolStrategy),
    ] {
        let plain = suggest_point(make().as_mut(), &space, 9, 11);
        let with_history = make()
            .suggest(&context(&space, &finished, &pending, 9, 11))
            .unwrap()
            .unwrap()
            .point;
        assert_eq!(plain, with_history);
    }
}

#[test]
fn random_and_sobol_never_run_out_and_have_no_size() {
    let space = unit_space(2);
    assert_eq!(RandomStrategy.size(&space), None);
    assert_eq!(SobolStrategy.size(&space), None);
}

#[test]
fn sobol_stays_in_the_unit_cube_past_its_table_of_points_and_dimensions() {
    // Past 2^16 points or the table's dimensions the strategy falls back to plain random draws.
    let space = unit_space(300);
    let mut sobol = SobolStrategy;
    for sequence in [0u64, 1, 65_535, 65_536, 1 << 20, u64::MAX] {
        let a = suggest_point(&mut sobol, &space, sequence, 123);
        let b = suggest_point(&mut sobol, &space, sequence, 123);
        assert_eq!(a, b, "sequence {sequence}");
        assert_eq!(a.len(), 300);
        assert!(
            a.iter().all(|u| (0.0..=1.0).contains(u)),
            "sequence {sequence}"
        );
    }
}

/// Counts, for the first `2^m` points of a 2-D Sobol search, how many fall in each cell of a
/// `2^a x 2^(m-a)` partition of the unit square.
fn sobol_cell_counts(seed: u64, m: u32, a: u32) -> Vec<usize> {
    let space = unit_space(2);
    let mut sobol = SobolStrategy;
    let (nx, ny) = (1usize << a, 1usize << (m - a));
    let mut counts = vec![0usize; nx * ny];
    for sequence in 0..(1u64 << m) {
        let p = suggest_point(&mut sobol, &space, sequence, seed);
        let i = ((p[0] * nx as f64).floor() as usize).min(nx - 1);
        let j = ((p[1] * ny as f64).floor() as usize).min(ny - 1);
        counts[i * ny + j] += 1;
    }
    counts
}

#[test]
fn sobol_first_64_points_put_exactly_one_point_in_each_of_the_8x8_cells() {
    for seed in [0u64, 1, 2, 42, 2024, 0xdead_beef, 1 << 40, u64::MAX] {
        let counts = sobol_cell_counts(seed, 6, 3);
        assert!(
            counts.iter().all(|c| *c == 1),
            "seed {seed}: 8x8 cell counts {counts:?}"
        );
    }
}

#[test]
fn sobol_first_64_points_form_a_0_6_2_net_in_every_elementary_partition() {
    // Every partition of [0,1]^2 into 64 equal boxes of 2^-a by 2^-(6-a) holds one point each:
    // 64x1 strips, 32x2, 16x4, 8x8, 4x16, 2x32 and 1x64.
    for seed in [0u64, 7, 42, 0xdead_beef] {
        for a in 0..=6 {
            let counts = sobol_cell_counts(seed, 6, a);
            assert!(
                counts.iter().all(|c| *c == 1),
                "seed {seed}, {}x{} boxes: counts {counts:?}",
                1 << a,
                1 << (6 - a)
            );
        }
    }
}

#[test]
fn sobol_every_power_of_two_prefix_is_balanced_in_each_dimension() {
    // The first 2^m points put 2^m / 2^k points in each of 2^k equal slices of each axis.
    let space = unit_space(4);
    let mut sobol = SobolStrategy;
    let points: Vec<Vec<f64>> = (0..256u64)
        .map(|s| suggest_point(&mut sobol, &space, s, 99))
        .collect();
    for m in 1..=8u32 {
        let n = 1usize << m;
        for d in 0..4 {
            let mut counts = vec![0usize; n];
            for p in &points[..n] {
                counts[((p[d] * n as f64).floor() as usize).min(n - 1)] += 1;
            }
            assert!(
                counts.iter().all(|c| *c == 1),
                "m = {m}, dim {d}: {counts:?}"
            );
        }
    }
}

#[test]
fn random_first_64_points_cover_the_square_less_evenly_than_sobol() {
    // The reason to pick sobol: for the same budget, random leaves holes (empty cells) where
    // sobol leaves none. With 64 uniform draws in 64 cells, about 64/e ~ 23 cells stay empty.
    let space = unit_space(2);
    let mut random = RandomStrategy;
    let mut empty_total = 0;
    for seed in 0..10u64 {
        let mut counts = [0usize; 64];
        for sequence in 0..64u64 {
            let p = suggest_point(&mut random, &space, sequence, seed);
            let i = ((p[0] * 8.0) as usize).min(7);
            let j = ((p[1] * 8.0) as usize).min(7);
            counts[i * 8 + j] += 1;
        }
        empty_total += counts.iter().filter(|c| **c == 0).count();
    }
    assert!(
        empty_total > 0,
        "random search left no 8x8 cell empty over 10 seeds"
    );
    for seed in 0..10u64 {
        assert!(sobol_cell_counts(seed, 6, 3).iter().all(|c| *c == 1));
    }
}
