"""The edges of the coach: speech out, speech in, microphones and the gate between them."""
