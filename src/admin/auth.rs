//! The admin token check: `Authorization: Bearer <token>`, compared in constant time.

/// Why a state-changing request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No admin token is configured: every state change is refused (403).
    Disabled,
    /// Missing, malformed or wrong credentials (401).
    Unauthorized,
}

/// Checks an Authorization header value against the configured token.
pub fn check(configured: &str, authorization: Option<&str>) -> Result<(), AuthError> {
    if configured.is_empty() {
        return Err(AuthError::Disabled);
    }
    let presented = authorization
        .and_then(bearer)
        .ok_or(AuthError::Unauthorized)?;
    if constant_time_eq(presented.as_bytes(), configured.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Unauthorized)
    }
}

/// The credentials of a `Bearer` Authorization value (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// True when `presented == expected`. The time taken depends only on `presented.len()` (which the caller
/// knows), never on the contents or the length of `expected`.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff: u64 = (presented.len() ^ expected.len()) as u64;
    for (i, &byte) in presented.iter().enumerate() {
        // When `expected` is shorter, compare against zero: the lengths already differ.
        let want = if expected.is_empty() {
            0
        } else {
            expected[i % expected.len()] & if i < expected.len() { 0xff } else { 0 }
        };
        diff |= u64::from(std::hint::black_box(byte ^ want));
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secret\0", b"secret"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"a", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn checks_bearer_tokens() {
        assert_eq!(check("", Some("Bearer x")), Err(AuthError::Disabled));
        assert_eq!(check("", None), Err(AuthError::Disabled));
        assert_eq!(check("tok", None), Err(AuthError::Unauthorized));
        assert_eq!(
            check("tok", Some("Basic dG9r")),
            Err(AuthError::Unauthorized)
        );
        assert_eq!(check("tok", Some("Bearer")), Err(AuthError::Unauthorized));
        assert_eq!(
            check("tok", Some("Bearer tok2")),
            Err(AuthError::Unauthorized)
        );
        assert_eq!(check("tok", Some("Bearer tok")), Ok(()));
        assert_eq!(check("tok", Some("bearer  tok ")), Ok(()));
    }
}
