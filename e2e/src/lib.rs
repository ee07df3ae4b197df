//! Support for the end-to-end tests in tests/it: the scripted model server the real agent
//! runtimes talk to. The tests themselves are in tests/it.

pub mod model;
