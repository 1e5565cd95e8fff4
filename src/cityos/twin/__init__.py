"""The Sejong digital twin: city model, synthetic population and (later) simulation."""
