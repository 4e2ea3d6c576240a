package chunkpb

// MDReportOnly is request metadata of a Heartbeat (value "1") that a
// chunkserver sends to a master it does not follow as the primary: the
// member records the report in its advisory location table (so that it can
// answer Locate as a shadow, and knows every replica when promoted) and
// neither registers the chunkserver nor hands it a token.
const MDReportOnly = "gfsha-report-only"
