//! Wi-Fi through wpa_supplicant. [`ctrl`] is the control-interface transport (sockets,
//! supervision); [`supplicant`] the typed protocol on top: commands, network settings,
//! events and the parsers of its replies.

pub mod ctrl;
pub mod supplicant;
