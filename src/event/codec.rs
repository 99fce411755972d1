//! Wire codecs (placeholder until the codec lands).
