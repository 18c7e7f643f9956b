//! The simulated worlds the driver runs: each turns its own scheduled events (price ticks, book
//! refreshes, noise swaps, blocks, order arrivals) into what strategies see, and carries out the
//! actions the risk gate lets through.

pub mod all;
pub mod desk;
pub mod fork;
pub mod lending;
pub mod market;
pub mod sandwich;
