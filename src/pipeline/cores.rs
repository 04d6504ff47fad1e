//! Thread placement: the core list is read once at start-up, each placement is checked against it, and each
//! thread pins itself as it starts.

use crate::config::{ConfigError, CoresConfig, ThreadPlacement};

/// The cores this process may run on, as `core_affinity` lists them (read once, before any thread pins).
#[derive(Debug, Clone)]
pub struct CoreList {
    ids: Vec<core_affinity::CoreId>,
}

impl CoreList {
    pub fn read() -> CoreList {
        CoreList {
            ids: core_affinity::get_core_ids().unwrap_or_default(),
        }
    }

    /// Refuses a layout that names a core this process cannot run on.
    pub fn check(
        &self,
        cores: &CoresConfig,
        config_sqpoll_core: Option<usize>,
    ) -> Result<(), ConfigError> {
        if let Some(core) = config_sqpoll_core {
            if !self.ids.iter().any(|id| id.id == core) {
                return Err(ConfigError {
                    field: String::from("gateway.sqpoll_core"),
                    value: core.to_string(),
                    why: String::from("this process may not run on that core"),
                });
            }
        }
        for (name, placement) in [
            ("cores.gateway", cores.gateway),
            ("cores.engine", cores.engine),
            ("cores.admin", cores.admin),
        ] {
            if let Some(core) = placement.core {
                if !self.ids.iter().any(|id| id.id == core) {
                    let known: Vec<String> = self.ids.iter().map(|id| id.id.to_string()).collect();
                    return Err(ConfigError {
                        field: format!("{name}.core"),
                        value: core.to_string(),
                        why: format!("this process may run on cores [{}] only", known.join(", ")),
                    });
                }
            }
        }
        Ok(())
    }

    /// Pins the calling thread as `placement` says; false if the kernel refused (the thread then floats).
    pub fn pin_current(&self, placement: &ThreadPlacement) -> bool {
        match placement.core {
            Some(core) => self
                .ids
                .iter()
                .find(|id| id.id == core)
                .is_some_and(|id| core_affinity::set_for_current(*id)),
            None => true,
        }
    }
}
