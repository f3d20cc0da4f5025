"""Language codes through langcodes (studio_kit/langtags.py): the ISO 639-2 mapping of the
mux and the code check of the project files and [[lang: ...]] notes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from studio_kit.edit.mux import iso639_2
from studio_kit.errors import ScriptError, StudioError
from studio_kit.langtags import alpha3, is_language_tag
from studio_kit.models import VoiceProfile
from studio_kit.screenplay.parse import parse_fountain

#: the table the mux carried before langcodes (ISO 639-1 -> 639-2/T): all still the same
_OLD_TABLE = {
    "ar": "ara", "bn": "ben", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan",
    "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus",
    "fa": "fas", "fi": "fin", "fr": "fra", "ga": "gle", "gl": "glg", "he": "heb",
    "hi": "hin", "hr": "hrv", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl",
    "it": "ita", "ja": "jpn", "ka": "kat", "ko": "kor", "lt": "lit", "lv": "lav",
    "ms": "msa", "nb": "nob", "nl": "nld", "nn": "nno", "no": "nor", "pl": "pol",
    "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk", "sl": "slv", "sq": "sqi",
    "sr": "srp", "sv": "swe", "sw": "swa", "ta": "tam", "th": "tha", "tr": "tur",
    "uk": "ukr", "ur": "urd", "vi": "vie", "yo": "yor", "zh": "zho", "zu": "zul",
    "br": "bre", "af": "afr", "am": "amh", "ha": "hau", "ig": "ibo", "te": "tel",
}


def test_iso639_2_keeps_the_old_table_and_knows_more():
    assert {k: iso639_2(k) for k in _OLD_TABLE} == _OLD_TABLE
    assert iso639_2("pt-BR") == "por" and iso639_2("fra") == "fra" and iso639_2("cmn") == "cmn"
    assert iso639_2("mi") == "mri" and iso639_2("lb") == "ltz"  # not in the old table
    with pytest.raises(StudioError, match="no ISO 639-2 code known for language 'qq'") as err:
        iso639_2("qq")
    assert err.value.problems[0].field == "languages" and "series.yaml" in err.value.hint
    assert alpha3("xx") is None


@pytest.mark.parametrize("code", ["en", "pt-BR", "cmn", "sr-Latn", "es-419", "xx", "fil"])
def test_well_formed_codes_are_accepted(code):
    assert is_language_tag(code)
    assert VoiceProfile(language=code).language == code


@pytest.mark.parametrize("code", ["EN", "en_US", "French", "en-12", "en-US-US", "", "e1"])
def test_malformed_codes_are_refused_with_the_field(code):
    assert not is_language_tag(code)
    with pytest.raises(ValidationError, match="is not a language code: use an ISO 639 code"):
        VoiceProfile(language=code)


def test_a_malformed_lang_note_names_the_file_and_line():
    with pytest.raises(ScriptError) as err:
        parse_fountain("INT. A - DAY\n\nMARA\n[[lang: en-US-US]]\nHi.\n", "a.fountain")
    assert err.value.line == 4 and "a.fountain" in str(err.value)
    assert "'en-US-US' is not a language code" in str(err.value)
