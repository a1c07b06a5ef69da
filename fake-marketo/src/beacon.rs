//! The Munchkin webevents beacon: `GET /webevents/visitWebPage?_mchNc=…&_mchId=…&_mchTk=…`.

/// One accepted `visitWebPage` beacon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// `_mchId`, the Munchkin account id (always the configured one).
    pub munchkin_id: String,
    /// `_mchTk`, the visitor token.
    pub token: String,
    /// `_mchRu`, the page path, percent-decoded.
    pub path: String,
    /// `_mchQp`, the page query, percent-decoded (empty when absent).
    pub query: String,
    /// Every parameter in arrival order, names and values percent-decoded.
    pub params: Vec<(String, String)>,
    /// The request's query string exactly as received (without the `?`).
    pub raw_query: String,
}

impl Beacon {
    /// The decoded value of the first parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Decodes `%XX` escapes (and nothing else: `+` stays `+`, as `encodeURIComponent` never writes
/// it for a space). `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a beacon query against the configured Munchkin id; `Err` says why it gets a 400.
pub(crate) fn parse_beacon(raw_query: &str, munchkin_id: &str) -> Result<Beacon, String> {
    let mut params = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name).ok_or_else(|| format!("bad escape in {name:?}"))?;
        let value = percent_decode(value).ok_or_else(|| format!("bad escape in {name}"))?;
        params.push((name, value));
    }
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let id = get("_mchId").ok_or("missing _mchId")?;
    if id != munchkin_id {
        return Err(format!("_mchId {id:?} is not this instance's Munchkin id"));
    }
    let token = get("_mchTk").ok_or("missing _mchTk")?;
    let path = get("_mchRu").ok_or("missing _mchRu")?;
    let query = get("_mchQp").unwrap_or_default();
    Ok(Beacon {
        munchkin_id: id,
        token,
        path,
        query,
        params,
        raw_query: raw_query.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b+c%2F%C3%A9").as_deref(), Some("a b+c/é"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn reads_a_beacon() {
        let q = "_mchNc=1&_mchCn=&_mchId=561-HYG-937&_mchTk=_mch-a.com-1-2&_mchHo=a.com&_mchPo=&_mchRu=%2Fdocs&_mchPc=https%3A&_mchVr=159&_mchHa=&_mchRe=&_mchQp=a%3D1%26b%3D2";
        let beacon = parse_beacon(q, "561-HYG-937").unwrap();
        assert_eq!(beacon.token, "_mch-a.com-1-2");
        assert_eq!(beacon.path, "/docs");
        assert_eq!(beacon.query, "a=1&b=2");
        assert_eq!(beacon.param("_mchPc"), Some("https:"));
        assert_eq!(beacon.param("_mchVr"), Some("159"));
        assert!(parse_beacon(q, "000-AAA-000").is_err());
        assert!(parse_beacon("_mchId=561-HYG-937&_mchRu=%2F", "561-HYG-937").is_err());
        assert!(parse_beacon("_mchId=561-HYG-937&_mchTk=t", "561-HYG-937").is_err());
    }
}
