#!/bin/sh
# Regenerates the speech WAVs (8 kHz mono 16-bit) used by the DTMF talk-off and PLC tests.
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox). Output is committed; a rerun
# with other espeak-ng/sox versions may differ slightly, which the tests tolerate.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() {  # say OUT VOICE TEXT
  espeak-ng -v "$2" -w "$tmp/raw.wav" "$3"
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1"
}
say speech_en.wav en "Hello, this is the front door, please open."
say speech_en_f.wav en+f3 "Parcel delivery for flat two. Could you buzz me in, please?"
say speech_de.wav de "Guten Tag, hier ist die Post. Bitte öffnen Sie die Tür."
say speech_digits.wav en "one two three four five six seven eight nine zero, star, hash."
