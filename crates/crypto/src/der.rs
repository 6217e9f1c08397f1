//! Just enough DER to take the PKCS#1 `RSAPrivateKey` out of a PKCS#8 envelope,
//! which the Python SDK needs and aws-lc-rs does not export.

/// Reads one TLV at the start of `input`: (tag, contents, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, r) = rest.split_at(n);
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey OCTET STRING, ... }
pub fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (tag, info, _) = read_tlv(pkcs8)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _, rest) = read_tlv(info)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, _, rest) = read_tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, key, _) = read_tlv(rest)?;
    (tag == OCTET_STRING).then(|| key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_input() {
        assert_eq!(pkcs1_from_pkcs8(&[]), None);
        assert_eq!(pkcs1_from_pkcs8(&[0x30, 0x82, 0x01]), None);
        assert_eq!(pkcs1_from_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
    }
}
