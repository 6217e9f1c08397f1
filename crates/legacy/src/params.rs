//! The request's parameters: the query string and a form body, merged.
//!
//! Values are kept twice: as the bytes that arrived (percent-decoded), because
//! the signature covers those bytes in the declared charset, and as text
//! decoded from that charset, for everything else.

use backflow_crypto::legacy::Charset;
use backflow_domain::LegacyCode;
use percent_encoding::percent_decode;
use std::collections::BTreeMap;

/// The most parameters one request may carry; real requests have about twenty.
const MAX_PARAMS: usize = 100;

/// A request's parameters, parsed once.
#[derive(Debug)]
pub(crate) struct Params {
    /// What `_input_charset` declared; `None` when the request named none.
    declared: Option<Charset>,
    /// Key and value bytes as received, each key once.
    raw: Vec<(Vec<u8>, Vec<u8>)>,
    /// The same, decoded; sorted by key.
    text: BTreeMap<String, String>,
}

/// Why the parameters could not be read, with the charset to answer in.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub code: LegacyCode,
    pub charset: Charset,
}

impl Params {
    /// Merges the query string and a form body (`_input_charset` may be only in
    /// the URL). A key sent twice must carry the same value both times.
    pub fn parse(query: &[u8], form_body: &[u8]) -> Result<Self, Unreadable> {
        let mut raw: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let refuse = Unreadable {
            code: LegacyCode::IllegalArgument,
            charset: Charset::Utf8,
        };
        for (k, v) in form_pairs(query).chain(form_pairs(form_body)) {
            match raw.iter().find(|(known, _)| *known == k) {
                Some((_, earlier)) if *earlier == v => {}
                Some(_) => return Err(refuse),
                None if raw.len() == MAX_PARAMS => return Err(refuse),
                None => raw.push((k, v)),
            }
        }
        let declared = match raw.iter().find(|(k, _)| k == b"_input_charset") {
            None => None,
            Some((_, v)) if v.is_empty() => None,
            Some((_, v)) => Some(std::str::from_utf8(v).ok().and_then(Charset::parse).ok_or(
                Unreadable {
                    code: LegacyCode::IllegalCharset,
                    charset: Charset::Utf8,
                },
            )?),
        };
        let charset = declared.unwrap_or(Charset::Utf8);
        let malformed = || Unreadable {
            code: LegacyCode::IllegalCharset,
            charset,
        };
        let mut text = BTreeMap::new();
        for (k, v) in &raw {
            let key = charset.decode(k).ok_or_else(malformed)?;
            let value = charset.decode(v).ok_or_else(malformed)?;
            text.insert(key, value);
        }
        Ok(Self {
            declared,
            raw,
            text,
        })
    }

    /// The charset to read and answer in: the declared one, UTF-8 when none was.
    pub fn charset(&self) -> Charset {
        self.declared.unwrap_or(Charset::Utf8)
    }

    /// What `_input_charset` declared.
    pub fn declared_charset(&self) -> Option<Charset> {
        self.declared
    }

    /// A parameter's value; an empty value counts as absent, as the signature rules treat it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.text
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The raw pairs, for the signature.
    pub fn raw(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.raw
    }

    /// The decoded pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `application/x-www-form-urlencoded` pairs as bytes: `+` is a space, `%XX` a byte.
fn form_pairs(input: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    input
        .split(|&b| b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            (unescape(k), unescape(v))
        })
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = s
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_body_merge_and_plus_is_a_space() {
        let p = Params::parse(
            b"_input_charset=utf-8&service=forex_refund",
            b"reason=a+b%2Bc&x=",
        )
        .unwrap();
        assert_eq!(p.get("service"), Some("forex_refund"));
        assert_eq!(p.get("reason"), Some("a b+c"));
        assert_eq!(p.get("x"), None, "empty values count as absent");
        assert_eq!(
            p.raw().len(),
            4,
            "the empty value is still part of what was signed"
        );
        assert_eq!(p.charset(), Charset::Utf8);
    }

    #[test]
    fn gbk_values_decode_and_keep_their_bytes() {
        // 退款 in GBK.
        let p = Params::parse(b"_input_charset=gbk&reason=%CD%CB%BF%EE", b"").unwrap();
        assert_eq!(p.get("reason"), Some("退款"));
        assert_eq!(p.raw()[1].1, vec![0xCD, 0xCB, 0xBF, 0xEE]);
        let as_utf8 = Params::parse(b"_input_charset=utf-8&reason=%CD%CB%BF%EE", b"");
        assert_eq!(as_utf8.unwrap_err().code, LegacyCode::IllegalCharset);
    }

    #[test]
    fn conflicting_repeats_and_unknown_charsets_are_refused() {
        assert!(Params::parse(b"a=1", b"a=1").is_ok());
        assert_eq!(
            Params::parse(b"a=1", b"a=2").unwrap_err().code,
            LegacyCode::IllegalArgument
        );
        assert_eq!(
            Params::parse(b"_input_charset=latin1", b"")
                .unwrap_err()
                .code,
            LegacyCode::IllegalCharset
        );
        assert_eq!(Params::parse(b"a=1", b"").unwrap().declared_charset(), None);
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            Params::parse(many.join("&").as_bytes(), b"")
                .unwrap_err()
                .code,
            LegacyCode::IllegalArgument
        );
    }
}
