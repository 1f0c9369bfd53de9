"""OpenAITranscriber: a voice note's words through `POST /v1/audio/transcriptions` (multipart).

OpenAI tells the audio format by the file name's extension, so the name is made from the MIME type (a WhatsApp
voice note is `audio/ogg; codecs=opus`, hence `voice.ogg`). Whisper models are asked for `verbose_json`, the only
format that says the language, which they name in English ("german"); it is turned into the ISO 639-1 code the
port promises. Other models (`gpt-4o-transcribe`) answer plain `json`, without a language. Audio over the API's
25 MB limit is refused here, before an upload that could only fail. Every failure is TranscriberUnavailable.
"""

from __future__ import annotations

import re

import openai

from memo.adapters.openai.client import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    ApiKey,
    failure_message,
    log_failure,
    make_client,
)
from memo.application.errors import TranscriberUnavailable
from memo.application.ports import Transcriber
from memo.domain.retrieval import Transcript

DEFAULT_MODEL = "whisper-1"
MAX_AUDIO_BYTES = 25 * 1024 * 1024
_EXTENSIONS = {"audio/ogg": "ogg", "audio/opus": "ogg", "application/ogg": "ogg", "audio/mpeg": "mp3",
               "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/m4a": "m4a", "audio/x-m4a": "m4a", "video/mp4": "mp4",
               "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/webm": "webm",
               "video/webm": "webm", "audio/flac": "flac", "audio/x-flac": "flac", "audio/aac": "aac",
               "audio/amr": "amr"}
_MIME = re.compile(r"(?:audio|video|application)/(?:x-)?([a-z0-9]{1,10})")
# Whisper's language names (its tokenizer's table and aliases) and their ISO 639-1 codes.
LANGUAGE_CODES = {
    "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "russian": "ru", "korean": "ko",
    "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr", "polish": "pl", "catalan": "ca",
    "dutch": "nl", "arabic": "ar", "swedish": "sv", "italian": "it", "indonesian": "id", "hindi": "hi",
    "finnish": "fi", "vietnamese": "vi", "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms",
    "czech": "cs", "romanian": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
    "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt", "latin": "la",
    "maori": "mi", "malayalam": "ml", "welsh": "cy", "slovak": "sk", "telugu": "te", "persian": "fa",
    "latvian": "lv", "bengali": "bn", "serbian": "sr", "azerbaijani": "az", "slovenian": "sl", "kannada": "kn",
    "estonian": "et", "macedonian": "mk", "breton": "br", "basque": "eu", "icelandic": "is", "armenian": "hy",
    "nepali": "ne", "mongolian": "mn", "bosnian": "bs", "kazakh": "kk", "albanian": "sq", "swahili": "sw",
    "galician": "gl", "marathi": "mr", "punjabi": "pa", "sinhala": "si", "khmer": "km", "shona": "sn",
    "yoruba": "yo", "somali": "so", "afrikaans": "af", "occitan": "oc", "georgian": "ka", "belarusian": "be",
    "tajik": "tg", "sindhi": "sd", "gujarati": "gu", "amharic": "am", "yiddish": "yi", "lao": "lo", "uzbek": "uz",
    "faroese": "fo", "haitian": "ht", "pashto": "ps", "turkmen": "tk", "nynorsk": "nn", "maltese": "mt",
    "sanskrit": "sa", "luxembourgish": "lb", "myanmar": "my", "tibetan": "bo", "tagalog": "tl", "malagasy": "mg",
    "assamese": "as", "tatar": "tt", "lingala": "ln", "hausa": "ha", "bashkir": "ba", "javanese": "jv",
    "sundanese": "su", "burmese": "my", "valencian": "ca", "flemish": "nl", "letzeburgesch": "lb", "pushto": "ps",
    "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
    "haitian_creole": "ht",
}


class OpenAITranscriber(Transcriber):
    def __init__(self, *, api_key: str, base_url: str | None = None, model: str = DEFAULT_MODEL,
                 timeout_s: float = 120.0, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                 max_retries: int = DEFAULT_MAX_RETRIES, max_audio_bytes: int = MAX_AUDIO_BYTES) -> None:
        if not model.strip():
            raise ValueError("an OpenAI transcription model is required (OPENAI_TRANSCRIPTION_MODEL)")
        self._key = ApiKey(api_key)
        self._model = model
        self._verbose = model.startswith("whisper")
        self._timeout_s = timeout_s
        self._attempts = max_retries + 1
        self._max_audio_bytes = max_audio_bytes
        self._client = make_client(api_key=self._key, base_url=base_url, timeout_s=timeout_s,
                                   connect_timeout_s=connect_timeout_s, max_retries=max_retries)

    def __repr__(self) -> str:
        return f"OpenAITranscriber(model={self._model!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def transcribe(self, audio: bytes, *, mime_type: str | None) -> Transcript:
        if not audio:
            raise TranscriberUnavailable("There is no audio to transcribe.")
        if len(audio) > self._max_audio_bytes:
            raise TranscriberUnavailable(f"The audio is {len(audio)} bytes, over the {self._max_audio_bytes} bytes "
                                         "OpenAI transcribes.")
        mime = (mime_type or "audio/ogg").split(";", 1)[0].strip().lower() or "audio/ogg"
        file = (f"voice.{file_extension(mime)}", audio, mime)
        try:
            if self._verbose:
                verbose = await self._client.audio.transcriptions.create(model=self._model, file=file,
                                                                         response_format="verbose_json")
                text, language = verbose.text, language_code(verbose.language)
            else:
                plain = await self._client.audio.transcriptions.create(model=self._model, file=file,
                                                                       response_format="json")
                text, language = plain.text, None
        except (openai.OpenAIError, ValueError) as exc:
            message = failure_message(exc, action=f"a transcription ({self._model})", key=self._key,
                                      timeout_s=self._timeout_s, attempts=self._attempts)
            log_failure(message)
            raise TranscriberUnavailable(message) from None
        if not isinstance(text, str):
            raise TranscriberUnavailable(f"OpenAI answered a transcription ({self._model}) without a text.")
        return Transcript(text=text.strip(), language=language)


def file_extension(mime: str) -> str:
    known = _EXTENSIONS.get(mime)
    if known:
        return known
    plain = _MIME.fullmatch(mime)
    return plain.group(1) if plain else "ogg"


def language_code(language: object) -> str | None:
    """ISO 639-1 for Whisper's language name ("german" -> "de"); a two-letter code passes as it is."""
    if not isinstance(language, str):
        return None
    name = language.strip().lower().replace(" ", "_")
    if len(name) == 2 and name.isalpha():  # noqa: PLR2004
        return name
    return LANGUAGE_CODES.get(name)
