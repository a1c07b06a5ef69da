//! Browser-side Munchkin calls as values.
