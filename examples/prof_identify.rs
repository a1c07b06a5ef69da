// temporary profiling harness (not committed)
use segment_marketo::destination::SoapDestination;
use segment_marketo::event::Message;
use segment_marketo::settings::Settings;
use segment_marketo::time::Timestamp;
fn main() {
    let settings = Settings::from_json(r#"{"accountId":"561-HYG-937","userId":"bigcorp1_461839624B16E06BA2D663","encryptionKey":"899756834129871744AAEE88DDCC77CDEEDEC1AAAD66","soapEndpoint":"https://561-HYG-937.mktoapi.com/soap/mktows/2_1"}"#).unwrap();
    let soap = SoapDestination::new(&settings).unwrap();
    let msg = r#"{"type":"identify","messageId":"m-1","userId":"u-1","traits":{"email":"user1@example.com","firstName":"alpha","address":{"street":"1 Main St","city":"x","state":"CA","postalCode":"94103","country":"USA"},"trait_0_color":"teal 123","trait_1_plan":42,"trait_2_score":12.5,"trait_3_visits":true,"trait_4_color":"naïve café 99","trait_5_plan":null,"trait_6_score":["x",3],"trait_7_visits":"a&b <c> 5","trait_8_color":"東京 7","trait_9_plan":"pro 1","trait_10_score":"beta 2","trait_11_visits":-55},"timestamp":"2024-03-05T12:00:00Z","context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-example.com-1374552656411-00001"},"ip":"1.2.3.4"}}"#;
    let now = Timestamp::parse_rfc3339("2024-03-05T12:00:00-06:00").unwrap();
    let mut out = String::new();
    let mut w = Vec::new();
    let n: u32 = std::env::args().nth(1).map_or(2_000_000, |a| a.parse().unwrap());
    for _ in 0..n {
        out.clear();
        w.clear();
        if let Ok(Message::Identify(m)) = Message::from_slice(std::hint::black_box(msg.as_bytes())) {
            soap.write_sync_lead(&m, now, &mut out, &mut w).unwrap();
        }
    }
}
