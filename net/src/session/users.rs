//! Configured users and their password hashes.
//!
//! Passwords are never kept: each user has an Argon2id hash in PHC string format (`$argon2id$v=19$m=..,t=..,
//! p=..$salt$hash`) with its own random salt, and a login is checked with argon2's verifier, which compares the
//! computed and stored outputs in constant time. SoupBinTCP compares usernames and passwords case-insensitively
//! and pads them with spaces, so both are normalized (trailing spaces dropped, ASCII upper case) before hashing
//! and before verifying; `hash_password` and the login path therefore agree on what "the same password" means.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use thiserror::Error;

/// Bytes of the SoupBinTCP username field.
pub const USERNAME_BYTES: usize = 6;
/// Bytes of the SoupBinTCP password field.
pub const PASSWORD_BYTES: usize = 10;
/// Users a `Users` table holds at most: every user gets a preallocated outbound store, so the count is bounded.
pub const USERS_MAX: usize = 4096;

/// Index of a configured user, stable for the life of the `Users` table; also the index of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub u32);

impl UserId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a user could not be added or a password hashed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsersError {
    #[error("username {0:?} must be 1 to 6 printable ASCII characters without spaces")]
    BadUsername(String),
    #[error("password must be 1 to 10 printable ASCII characters without spaces")]
    BadPassword,
    #[error("user {0:?} is configured twice (usernames are case-insensitive)")]
    DuplicateUser(String),
    #[error("more than {USERS_MAX} users configured")]
    TooManyUsers,
    #[error("password hash for user {user:?} is not an Argon2 PHC string: {why}")]
    BadHash { user: String, why: String },
    #[error("argon2: {0}")]
    Argon2(String),
}

/// The users allowed to log in.
#[derive(Debug)]
pub struct Users {
    /// Normalized usernames (upper case, right-padded with spaces), indexed by `UserId`.
    names: Vec<[u8; USERNAME_BYTES]>,
    /// PHC strings, indexed by `UserId`; parsed again at each login (logins may allocate).
    hashes: Vec<String>,
    /// A hash verified against for unknown usernames, so a login takes about as long whether or not the user
    /// exists and timing does not reveal which usernames are configured.
    decoy_hash: String,
}

impl Users {
    /// An empty table whose decoy hash uses argon2's default (production) parameters.
    pub fn new() -> Result<Users, UsersError> {
        Users::with_params(Params::DEFAULT)
    }

    /// An empty table whose decoy hash uses `params`; tests pass `cheap_params()` so they run in microseconds.
    pub fn with_params(params: Params) -> Result<Users, UsersError> {
        Ok(Users {
            names: Vec::new(),
            hashes: Vec::new(),
            decoy_hash: hash_password_with_params("DECOY", params)?,
        })
    }

    /// Adds a user with a PHC hash made by `hash_password`. The hash is parsed now so a bad config fails at
    /// start-up, not at the first login.
    pub fn add(&mut self, username: &str, phc_hash: &str) -> Result<UserId, UsersError> {
        let name = normalize_username(username)?;
        if self.names.contains(&name) {
            return Err(UsersError::DuplicateUser(username.to_owned()));
        }
        if self.names.len() >= USERS_MAX {
            return Err(UsersError::TooManyUsers);
        }
        let parsed = PasswordHash::new(phc_hash).map_err(|error| UsersError::BadHash {
            user: username.to_owned(),
            why: error.to_string(),
        })?;
        if parsed.algorithm.as_str() != Algorithm::Argon2id.ident().as_str() {
            return Err(UsersError::BadHash {
                user: username.to_owned(),
                why: format!("algorithm {} is not argon2id", parsed.algorithm),
            });
        }
        let id = UserId(self.names.len() as u32);
        self.names.push(name);
        self.hashes.push(phc_hash.to_owned());
        Ok(id)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The user's username as configured (normalized to upper case).
    pub fn name(&self, id: UserId) -> Option<&str> {
        let name = self.names.get(id.index())?;
        crate::wire::alpha_text(name)
    }

    /// The user with this username (the raw 6-byte Login Request field), without checking a password.
    pub fn find(&self, username: &[u8; USERNAME_BYTES]) -> Option<UserId> {
        let name = normalize_field(username);
        self.names
            .iter()
            .position(|candidate| *candidate == name)
            .map(|index| UserId(index as u32))
    }

    /// Checks a Login Request's username and password fields. Returns the user, or `None` for an unknown user
    /// or a wrong password (the caller answers both with Login Rejected 'A'). Costs one Argon2 verification
    /// either way.
    pub fn verify(
        &self,
        username: &[u8; USERNAME_BYTES],
        password: &[u8; PASSWORD_BYTES],
    ) -> Option<UserId> {
        let password = normalize_field(password);
        let password = trim_spaces(&password);
        let user = self.find(username);
        let phc_hash = match user {
            Some(id) => self.hashes.get(id.index())?,
            None => &self.decoy_hash,
        };
        let parsed = PasswordHash::new(phc_hash).ok()?;
        // `verify_password` recomputes the hash with the stored salt and parameters and compares the outputs in
        // constant time.
        let matches = Argon2::default().verify_password(password, &parsed).is_ok();
        match (user, matches) {
            (Some(id), true) => Some(id),
            _ => None,
        }
    }
}

/// Argon2 parameters cheap enough for tests (8 KiB, one pass). Never use them in production.
pub fn cheap_params() -> Params {
    // 8 KiB and one pass are within argon2's limits, so `new` cannot fail; the fallback only avoids a panic.
    Params::new(8, 1, 1, None).unwrap_or(Params::DEFAULT)
}

/// A PHC string for `password` with a fresh random salt and argon2's default Argon2id parameters (19 MiB, two
/// passes): what the appliance's configuration stores.
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    hash_password_with_params(password, Params::DEFAULT)
}

/// `hash_password` with explicit parameters (tests use `cheap_params()`).
pub fn hash_password_with_params(password: &str, params: Params) -> Result<String, UsersError> {
    let bytes = password.as_bytes();
    if bytes.is_empty()
        || bytes.len() > PASSWORD_BYTES
        || !bytes.iter().all(|b| b.is_ascii_graphic())
    {
        return Err(UsersError::BadPassword);
    }
    let normalized = bytes.to_ascii_uppercase();
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(&normalized, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| UsersError::Argon2(error.to_string()))
}

fn normalize_username(username: &str) -> Result<[u8; USERNAME_BYTES], UsersError> {
    let bytes = username.as_bytes();
    if bytes.is_empty()
        || bytes.len() > USERNAME_BYTES
        || !bytes.iter().all(|b| b.is_ascii_graphic())
    {
        return Err(UsersError::BadUsername(username.to_owned()));
    }
    let mut name = [b' '; USERNAME_BYTES];
    name[..bytes.len()].copy_from_slice(bytes);
    Ok(normalize_field(&name))
}

/// ASCII upper case; the spaces of the padding stay spaces.
fn normalize_field<const N: usize>(field: &[u8; N]) -> [u8; N] {
    field.map(|b| b.to_ascii_uppercase())
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<const N: usize>(text: &str) -> [u8; N] {
        let mut out = [b' '; N];
        out[..text.len()].copy_from_slice(text.as_bytes());
        out
    }

    #[test]
    fn a_hashed_password_verifies_case_insensitively_and_a_wrong_one_does_not() {
        let mut users = Users::with_params(cheap_params()).unwrap();
        let hash = hash_password_with_params("s3cret", cheap_params()).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        let alice = users.add("alice", &hash).unwrap();
        assert_eq!(users.verify(&field("ALICE"), &field("S3CRET")), Some(alice));
        assert_eq!(users.verify(&field("alice"), &field("s3cret")), Some(alice));
        assert_eq!(users.verify(&field("alice"), &field("s3cre")), None);
        assert_eq!(users.verify(&field("bob"), &field("s3cret")), None);
        assert_eq!(users.name(alice), Some("ALICE"));
    }

    #[test]
    fn two_hashes_of_one_password_have_different_salts() {
        let a = hash_password_with_params("pw", cheap_params()).unwrap();
        let b = hash_password_with_params("pw", cheap_params()).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let mut users = Users::with_params(cheap_params()).unwrap();
        let hash = hash_password_with_params("pw", cheap_params()).unwrap();
        assert!(matches!(
            users.add("toolong1", &hash),
            Err(UsersError::BadUsername(_))
        ));
        assert!(matches!(
            users.add("a b", &hash),
            Err(UsersError::BadUsername(_))
        ));
        assert!(matches!(
            users.add("mm", "plaintext"),
            Err(UsersError::BadHash { .. })
        ));
        users.add("mm", &hash).unwrap();
        assert!(matches!(
            users.add("MM", &hash),
            Err(UsersError::DuplicateUser(_))
        ));
        assert_eq!(hash_password("elevenchars"), Err(UsersError::BadPassword));
        assert_eq!(hash_password(""), Err(UsersError::BadPassword));
    }
}
