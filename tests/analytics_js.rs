//! The browser side (analytics.js's Marketo integration) against
//! `../shared/vectors/analytics-js-marketo.json`, plus JavaScript coercions, Unicode, size and
//! hostile inputs.

use segment_marketo::ErrorKind;
use segment_marketo::event::{Fields, Message, Value};
use segment_marketo::munchkin::client::{Client, MunchkinCall, associate_lead_hash, page_call, track_call};
use segment_marketo::settings::Settings;
use serde_json::{Value as J, json};
use sha1::{Digest, Sha1};

const PRIVATE_KEY: &str = "test-private-key";
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/analytics-js-marketo.json");

/// Lowercase hex SHA-1 of private key + email, computed here independently of the crate.
fn sha1_hex(key: &str, email: &str) -> String {
    hex::encode(Sha1::digest(format!("{key}{email}").as_bytes()))
}

/// A client for a section's settings plus the test private key.
fn client_for(settings: &J) -> Client {
    let mut settings = settings.clone();
    settings["privateKey"] = json!(PRIVATE_KEY);
    Client::new(&Settings::from_json(&settings.to_string()).unwrap()).unwrap()
}

fn client(extra: J) -> Client {
    let mut settings = json!({"accountId": "332-UOQ-444", "privateKey": PRIVATE_KEY});
    if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    Client::new(&Settings::from_json(&settings.to_string()).unwrap()).unwrap()
}

/// Runs a message given as JSON text (text, not `json!`, wherever key order matters: without
/// serde_json's `preserve_order`, `json!` sorts keys).
fn run(client: &Client, message: &str) -> Option<MunchkinCall> {
    let message = Message::from_json(message).unwrap_or_else(|e| panic!("{e}: {message}"));
    client.call(&message).unwrap()
}

fn run_json(client: &Client, message: &J) -> Option<MunchkinCall> {
    run(client, &message.to_string())
}

/// The vector file with each case's message kept as its raw text (key order as in the file).
#[derive(serde::Deserialize)]
struct Vectors<'a> {
    #[serde(borrow)]
    v1: Section<'a>,
    #[serde(borrow)]
    v2: Section<'a>,
}

#[derive(serde::Deserialize)]
struct Section<'a> {
    settings: J,
    #[serde(borrow)]
    cases: Vec<Case<'a>>,
}

#[derive(serde::Deserialize)]
struct Case<'a> {
    id: String,
    #[serde(borrow)]
    message: &'a serde_json::value::RawValue,
    expect: J,
}

/// An attribute value as a `serde_json::Value`.
fn json_of(v: &Value<'_>) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::String(s) => J::String(s.to_string()),
        Value::Number(n) | Value::Object(n) | Value::Array(n) => serde_json::from_str(n).unwrap(),
    }
}

/// The attributes of an `associateLead` call as ordered `[key, value]` pairs.
fn attribute_pairs(call: &MunchkinCall) -> J {
    match call {
        MunchkinCall::AssociateLead { attributes, .. } => attributes.iter().map(|(k, v)| json!([k, json_of(v)])).collect(),
        other => panic!("not associateLead: {other:?}"),
    }
}

#[test]
fn every_vector_case() {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    let vectors: Vectors<'_> = serde_json::from_str(&text).unwrap();
    // Count the cases independently of the typed reading.
    let loose: J = serde_json::from_str(&text).unwrap();
    let in_file = loose["v1"]["cases"].as_array().unwrap().len() + loose["v2"]["cases"].as_array().unwrap().len();
    let mut checked = 0;
    for section in [&vectors.v1, &vectors.v2] {
        let client = client_for(&section.settings);
        assert_eq!(client.is_v2(), section.settings["traits"].is_array());
        for case in &section.cases {
            let id = &case.id;
            let call = run(&client, case.message.get());
            let mut expect = case.expect.clone();
            if expect.is_null() {
                assert_eq!(call, None, "{id}");
                checked += 1;
                continue;
            }
            let call = call.unwrap_or_else(|| panic!("{id}: no call"));
            if expect[2] == "<hash>" {
                let email = expect[1]["Email"].as_str().unwrap().to_owned();
                expect[2] = json!(sha1_hex(PRIVATE_KEY, &email));
            }
            // Key order inside objects is not significant: serde_json maps compare as sets.
            assert_eq!(call.to_json(), expect, "{id}");
            // The exact-text form says the same.
            assert_eq!(serde_json::from_str::<J>(&call.to_json_string()).unwrap(), expect, "{id}");
            checked += 1;
        }
    }
    assert_eq!(checked, in_file);
    assert_eq!(checked, 12);
}

#[test]
fn hash_is_sha1_of_key_then_email_as_given() {
    // segment-boneyard/marketo-sign test/test.js.
    assert_eq!(
        associate_lead_hash("04815162342048151623420481516234204815162342", "calvin@segment.io"),
        "2b10f792b8fa3e0b45018195fb2ba39f21350c76"
    );
    for email in ["Name@Example.com", " name@example.com", "ñandú@example.com"] {
        assert_eq!(associate_lead_hash(PRIVATE_KEY, email), sha1_hex(PRIVATE_KEY, email));
    }
}

#[test]
fn javascript_coercion_of_property_values() {
    // Expected values from node: `${key}=${encodeURIComponent(value)}&` over JSON.parse(props),
    // except `1.50`, which keeps its JSON text here (node prints 1.5).
    let props = r#"{"s":"a b&c=d/e?","n":1,"f":1.50,"neg":-2.5,"t":true,"fa":false,"nul":null,
        "o":{"a":1},"arr":[1,[2,3],null,{"x":1},"s t",true],"empty":[],"es":"","nested":[[[]]],"q":"'()*!~-_."}"#;
    let call = track_call("Coerce", &Fields::from_json(props).unwrap());
    let MunchkinCall::VisitWebPage { url, params } = call else {
        panic!()
    };
    assert_eq!(url, "/event/Coerce");
    assert_eq!(
        params,
        "s=a%20b%26c%3Dd%2Fe%3F&n=1&f=1.50&neg=-2.5&t=true&fa=false&nul=null&o=%5Bobject%20Object%5D&\
         arr=1%2C2%2C3%2C%2C%5Bobject%20Object%5D%2Cs%20t%2Ctrue&empty=&es=&nested=&q='()*!~-_.&"
    );
}

#[test]
fn property_order_is_javascript_object_order() {
    // node: Object.keys(JSON.parse('{"b":1,"10":2,"2":3,"a":4,"b":5,"01":6}')) = ["2","10","b","a","01"]
    let call = track_call("e", &Fields::from_json(r#"{"b":1,"10":2,"2":3,"a":4,"b":5,"01":6}"#).unwrap());
    assert_eq!(
        call,
        MunchkinCall::VisitWebPage {
            url: "/event/e".into(),
            params: "2=3&10=2&b=5&a=4&01=6&".into()
        }
    );
}

#[test]
fn unicode_event_names_and_params() {
    let c = client(json!({}));
    let call = run(
        &c,
        r#"{"type":"track","event":"Café ordered_😀 now\u00a0!","properties":{"名前":"値 ✓","emoji":"😀","k y":"é"}}"#,
    )
    .unwrap();
    // Keys are not encoded; only ' ' and '_' become '-' in the URL (U+00A0 stays).
    assert_eq!(
        call.to_json(),
        json!(["visitWebPage", {"url": "/event/Café-ordered-😀-now\u{a0}!", "params": "名前=%E5%80%A4%20%E2%9C%93&emoji=%F0%9F%98%80&k y=%C3%A9&"}])
    );
    // Case kept, an existing /event/ prefix kept, and only a leading one counts.
    assert_eq!(
        track_call("/event/Ünï_côde", &Fields::new()),
        MunchkinCall::VisitWebPage {
            url: "/event/Ünï-côde".into(),
            params: String::new()
        }
    );
    assert_eq!(
        track_call("x/event/y", &Fields::new()),
        MunchkinCall::VisitWebPage {
            url: "/event/x/event/y".into(),
            params: String::new()
        }
    );
    // Page URLs with Unicode: the query as a browser serialises it.
    assert_eq!(
        page_call("https://例え.jp/パス?q=日本 語#frag", None),
        MunchkinCall::VisitWebPage {
            url: "https://例え.jp/パス?q=日本 語#frag".into(),
            params: "q=%E6%97%A5%E6%9C%AC%20%E8%AA%9E".into()
        }
    );
}

#[test]
fn track_with_a_thousand_properties() {
    let mut props = serde_json::Map::new();
    for i in 0..1000 {
        props.insert(format!("prop_{i:04}"), json!(format!("value {i}")));
    }
    let c = client(json!({}));
    let call = run_json(&c, &json!({"type": "track", "event": "Big_Event", "properties": props})).unwrap();
    let MunchkinCall::VisitWebPage { url, params } = call else {
        panic!()
    };
    assert_eq!(url, "/event/Big-Event");
    let parts: Vec<&str> = params.split('&').collect();
    assert_eq!(parts.len(), 1001);
    assert_eq!(parts[1000], "");
    for (i, part) in parts[..1000].iter().enumerate() {
        assert_eq!(*part, format!("prop_{i:04}=value%20{i}"));
    }
}

#[test]
fn page_urls_and_errors() {
    let c = client(json!({}));
    let call = |m: J| {
        let text = m.to_string();
        c.call(&Message::from_json(&text).unwrap())
    };
    assert_eq!(
        call(json!({"type": "page", "properties": {"url": "https://x.io/a?b=c d&e#f?g"}}))
            .unwrap()
            .unwrap()
            .to_json(),
        json!(["visitWebPage", {"url": "https://x.io/a?b=c d&e#f?g", "params": "b=c%20d&e"}])
    );
    // A relative URL is resolved against context.page.url, as a browser resolves it.
    assert_eq!(
        call(json!({"type": "page", "properties": {"url": "#section"}, "context": {"page": {"url": "https://x.io/p?from=page"}}}))
            .unwrap()
            .unwrap()
            .to_json(),
        json!(["visitWebPage", {"url": "#section", "params": "from=page"}])
    );
    for props in [json!({}), json!({"url": null}), json!({"url": ""})] {
        let err = call(json!({"type": "page", "messageId": "p1", "properties": props})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingUrl);
        assert!(err.to_string().contains("p1"), "{err}");
    }
    let err = call(json!({"type": "page", "properties": {"url": 42}})).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidField);
    assert!(err.to_string().contains("properties.url"), "{err}");
    // Disabled: no call, no error even without a URL.
    assert_eq!(call(json!({"type": "page", "integrations": {"All": false}})).unwrap(), None);
}

#[test]
fn integrations_filter_every_type() {
    let c = client(json!({}));
    for m in [
        json!({"type": "track", "event": "e", "integrations": {"Marketo": false}}),
        json!({"type": "page", "properties": {"url": "http://a.b"}, "integrations": {"All": false}}),
        json!({"type": "identify", "traits": {"email": "a@b.co"}, "integrations": {"Marketo": false}}),
        json!({"type": "group", "groupId": "g"}),
        json!({"type": "alias", "previousId": "p"}),
        json!({"type": "screen", "name": "s"}),
    ] {
        assert_eq!(run_json(&c, &m), None, "{m}");
    }
    assert!(
        run_json(
            &c,
            &json!({"type": "track", "event": "e", "integrations": {"All": false, "Marketo": {"x": 1}}})
        )
        .is_some()
    );
}

/// Identify cases whose expected attributes (in order) were computed with node over a
/// restatement of segmentio/facade (`traits(aliases)`, `email()`, `firstName()`, `lastName()`,
/// `phone()`, `proxy()` with obj-case) and the two integrations' `identify`.
#[test]
fn identify_follows_facade() {
    let v1 = client(json!({}));
    let cases = [
        (
            // obj-case finds traits whatever their casing; first match in JS key order wins;
            // firstName/lastName split from name (with facade's index quirk); phones[0].
            r#"{"type":"identify","userId":"u1","traits":{"E-Mail":"X@Y.io","name":"  Ada  King Lovelace ","First_Name":5,
                "phones":["555","666"],"phone":"","ADDRESS":{"City":"Paris","zip":"75001"},"2":"two","1":"one",
                "industry":null,"Company":"Old","company":"New"}}"#,
            json!([["1","one"],["2","two"],["E-Mail","X@Y.io"],["name","  Ada  King Lovelace "],["First_Name",5],["phones",["555","666"]],
                ["ADDRESS",{"City":"Paris","zip":"75001"}],["industry",null],["Company","Old"],["id","u1"],["Email","X@Y.io"],
                ["FirstName","Ada"],["LastName","a  King Lovelace"],["Phone","555"],["userId","u1"],["City","Paris"]]),
            "X@Y.io",
        ),
        (
            r#"{"type":"identify","userId":"a@b.co","traits":{"address":null,"Address":{"city":"X"},"City":"kept?"}}"#,
            json!([["address", null], ["id", "a@b.co"], ["Email", "a@b.co"], ["userId", "a@b.co"]]),
            "a@b.co",
        ),
        (
            // A truthy non-string email is used as is; the hash is over String(email).
            r#"{"type":"identify","traits":{"email":123,"Email":"second"}}"#,
            json!([["Email", 123]]),
            "123",
        ),
        (
            r#"{"type":"identify","userId":"me@x.org","traits":{"email":"","plan":"pro"}}"#,
            json!([["plan", "pro"], ["id", "me@x.org"], ["Email", "me@x.org"], ["userId", "me@x.org"]]),
            "me@x.org",
        ),
        (
            r#"{"type":"identify","userId":"u","traits":{"id":"t","email":"a@b.co","firstName":" Ann ","lastName":7,"name":"Ann Lee"}}"#,
            json!([
                ["id", "u"],
                ["name", "Ann Lee"],
                ["Email", "a@b.co"],
                ["FirstName", "Ann"],
                ["LastName", "Lee"],
                ["userId", "u"]
            ]),
            "a@b.co",
        ),
        (
            r#"{"type":"identify","traits":{"email":"a@b.co","phone":0,"phones":[]}}"#,
            json!([["phone", 0], ["phones", []], ["Email", "a@b.co"]]),
            "a@b.co",
        ),
    ];
    for (message, pairs, email) in cases {
        let call = run(&v1, message).unwrap_or_else(|| panic!("no call for {message}"));
        assert_eq!(attribute_pairs(&call), pairs, "{message}");
        let MunchkinCall::AssociateLead { hash, .. } = &call else {
            panic!()
        };
        assert_eq!(*hash, sha1_hex(PRIVATE_KEY, email));
    }
    assert_eq!(run(&v1, r#"{"type":"identify","userId":"someone","traits":{"email":""}}"#), None);
    // The first key that obj-case matches decides, even when it is null.
    assert_eq!(
        run(&v1, r#"{"type":"identify","userId":"a@b","traits":{"email":null,"EMAIL":"x@y.z"}}"#),
        None
    );
    assert!(run(&v1, r#"{"type":"identify","userId":"a@b","traits":{"EMAIL":"x@y.z","email":null}}"#).is_some());
}

#[test]
fn identify_v2_rules() {
    let v2 = client(json!({"traits": [
        {"segmentTrait": "id", "marketoFieldName": "leadId"},
        {"segmentTrait": "fax", "marketoFieldName": "fax"},
        {"segmentTrait": "custom", "marketoFieldName": "myField"},
        {"segmentTrait": "missing", "marketoFieldName": "x"},
        {"segmentTrait": "industry", "marketoFieldName": "Email"}
    ]}));
    let call = run(
        &v2,
        r#"{"type":"identify","userId":"u","anonymousId":"anon","traits":{"email":"e@x.io","name":"Grace Hopper",
            "birthday":"1906-12-09","gender":"f","company":{"name":"Navy"},"address":{"zip":"","postalCode":"10001","city":"NYC"},
            "fax":null,"custom":[1,2],"industry":"Computing"}}"#,
    )
    .unwrap();
    assert_eq!(
        attribute_pairs(&call),
        json!([
            ["Email", "Computing"],
            ["DateofBirth", "1906-12-09"],
            ["FirstName", "Grace"],
            ["MarketoSocialGender", "f"],
            ["LastName", "Hopper"],
            ["userId", "u"],
            ["anonymousId", "anon"],
            ["City", "NYC"],
            ["PostalCode", "10001"],
            ["Company", "Navy"],
            ["leadId", "u"],
            ["Fax", null],
            ["myField", [1, 2]]
        ])
    );
    // The hash is over the identify's email, not a mapped field that overwrote `Email`.
    assert_eq!(
        call,
        MunchkinCall::AssociateLead {
            attributes: attr_vec(&call),
            hash: sha1_hex(PRIVATE_KEY, "e@x.io")
        }
    );

    let call = run(
        &v2,
        r#"{"type":"identify","userId":"u","traits":{"email":"a@b.co","company":{"name":"C"},"address":"Main St"}}"#,
    )
    .unwrap();
    assert_eq!(
        attribute_pairs(&call),
        json!([
            ["Email", "a@b.co"],
            ["userId", "u"],
            ["Address", "Main St"],
            ["Company", "C"],
            ["leadId", "u"]
        ])
    );
}

fn attr_vec(call: &MunchkinCall) -> Vec<(String, Value<'static>)> {
    match call {
        MunchkinCall::AssociateLead { attributes, .. } => attributes.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn number_text_travels_as_sent() {
    let c = client(json!({}));
    let text = r#"{"type":"identify","userId":"u","traits":{"email":"a@b.co","score":1.50,"big":123456789012345678901234567890,"tags":["a", 2.0]}}"#;
    let call = c.call(&Message::from_json(text).unwrap()).unwrap().unwrap();
    let hash = sha1_hex(PRIVATE_KEY, "a@b.co");
    assert_eq!(
        call.to_json_string(),
        format!(
            r#"["associateLead",{{"score":1.50,"big":123456789012345678901234567890,"tags":["a",2.0],"id":"u","Email":"a@b.co","userId":"u"}},"{hash}"]"#
        )
    );
    assert_eq!(call.attribute("score"), Some(&Value::Number("1.50".into())));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let c = client(json!({}));
    let v2 = client(
        json!({"traits": [{"segmentTrait": "a", "marketoFieldName": "constructor"}, {"segmentTrait": "d", "marketoFieldName": "d"}]}),
    );
    let mut messages = vec![
        r#"{"type":"identify","userId":"\u2028@\u2028.\u2028","traits":{"":"","\u0000":null,"email":"\ud83d\ude00"}}"#.to_owned(),
        r#"{"type":"identify","traits":{"email":[],"name":"\u00a0\ufeff","lastName":"","firstName":null,"address":{"city":{"x":1}}}}"#
            .to_owned(),
        r#"{"type":"identify","traits":{"email":{"a":1},"company":[],"phones":[null],"address":[1]}}"#.to_owned(),
        r#"{"type":"page","properties":{"url":"::::"}}"#.to_owned(),
        r#"{"type":"page","properties":{"url":"http://[::1"},"context":{"page":{"url":"not a url"}}}"#.to_owned(),
        r#"{"type":"track","event":"x","properties":{"4294967294":1,"4294967295":2,"0":3,"00":4,"1e400":1e400}}"#.to_owned(),
    ];
    // Nesting far beyond any recursion limit, in properties, traits and attribute values.
    for depth in [120, 100_000] {
        let arrays = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"address\":".repeat(depth), "}".repeat(depth));
        messages.push(format!(
            r#"{{"type":"track","event":"","properties":{{"d":{arrays},"o":{objects}}}}}"#
        ));
        messages.push(format!(
            r#"{{"type":"identify","userId":"a@b.co","traits":{{"address":{objects},"phones":{arrays},"d":{arrays},"name":" "}}}}"#
        ));
        messages.push(format!(
            r#"{{"type":"identify","traits":{{"email":{arrays},"company":{objects}}}}}"#
        ));
    }
    let mut calls = 0;
    for text in &messages {
        let message = Message::from_json(text).unwrap_or_else(|e| panic!("{e}: {}", &text[..text.len().min(80)]));
        for client in [&c, &v2] {
            match client.call(&message) {
                Ok(Some(call)) => {
                    calls += 1;
                    let _ = call.to_json();
                    assert!(!call.to_json_string().is_empty());
                }
                Ok(None) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::MissingUrl, "{e}"),
            }
        }
    }
    assert!(calls >= 16, "{calls}");
    // Deep arrays in track params: String() flattens them.
    let deep = format!(
        r#"{{"type":"track","event":"e","properties":{{"d":{}1,2{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        run(&c, &deep),
        Some(MunchkinCall::VisitWebPage {
            url: "/event/e".into(),
            params: "d=1%2C2&".into()
        })
    );
    // A name with leading blanks and a space in the middle, in UTF-16 units (the facade quirk).
    let call = run_json(
        &c,
        &json!({"type": "identify", "traits": {"email": "a@b.co", "name": "\u{3000}😀 b"}}),
    )
    .unwrap();
    assert_eq!(call.attribute("LastName"), Some(&Value::String("b".into())));
}

#[test]
fn client_needs_account_and_private_key() {
    let err = Client::new(&Settings::from_json(r#"{"accountId":"332-UOQ-444"}"#).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSettings);
    assert!(err.to_string().contains("privateKey"));
    let c = client(json!({}));
    assert!(!format!("{c:?}").contains(PRIVATE_KEY));
}
