"""Unlabelled and mislabelled 8-bit text in many scripts (issue 7): Hebrew and Arabic in
their Windows and ISO code pages, beside the charsets detection already got right.

The corpus is a short, a medium and a long text per language, written for these tests. A
text passes when it decodes to exactly the text that was encoded, with no label and with a
wrong "us-ascii" label. The one text that stays ambiguous (two Turkish letters, which read
as well in cp1252) decodes right once the message names its charset elsewhere.
"""

from __future__ import annotations

import pytest

from sync.mime import parse_message
from sync.mime.charsets import charset_hints, decode_text

# (short, medium, long) per language
TEXTS: dict[str, tuple[str, str, str]] = {
    "Hebrew": (
        "שלום, מה שלומך?",
        ("הפגישה נדחתה ליום שלישי בשעה עשר בבוקר. אנא אשרו את השתתפותכם עד מחר."),
        (
            "שלום לכולם,\n"
            "מצורף הדוח החודשי של המחלקה. השנה הצלחנו להגדיל את המכירות "
            "בשלושים אחוז, בעיקר בזכות הלקוחות החדשים מהצפון. בשבוע הבא "
            "נקיים ישיבת צוות כדי לדון בתקציב לשנה הבאה ובתוכניות הגיוס. "
            "אם יש לכם שאלות או הערות על הדוח, אנא שלחו אותן אליי עד יום "
            "חמישי.\n"
            "תודה רבה,\n"
            "דנה"
        ),
    ),
    "Arabic": (
        "مرحبا، كيف حالك؟",
        ("تم تأجيل الاجتماع إلى يوم الثلاثاء في الساعة العاشرة صباحا. يرجى تأكيد حضوركم قبل الغد."),
        (
            "السلام عليكم،\n"
            "مرفق التقرير الشهري للقسم. تمكنا هذا العام من زيادة "
            "المبيعات بنسبة ثلاثين بالمئة، ويعود ذلك أساسا إلى العملاء "
            "الجدد في الشمال. سنعقد الأسبوع القادم اجتماعا للفريق "
            "لمناقشة ميزانية السنة المقبلة وخطط التوظيف. إذا كانت لديكم "
            "أسئلة أو ملاحظات حول التقرير، يرجى إرسالها إلي قبل يوم "
            "الخميس.\n"
            "مع الشكر،\n"
            "سارة"
        ),
    ),
    "Russian": (
        "Привет, как дела?",
        (
            "Встреча перенесена на вторник, десять часов утра. "
            "Пожалуйста, подтвердите участие до завтра."
        ),
        (
            "Добрый день, коллеги!\n"
            "Во вложении ежемесячный отчёт отдела. В этом году нам "
            "удалось увеличить продажи на тридцать процентов, в основном "
            "благодаря новым клиентам с севера. На следующей неделе мы "
            "проведём совещание, чтобы обсудить бюджет на следующий год "
            "и планы по найму. Если у вас есть вопросы или замечания по "
            "отчёту, пришлите их мне до четверга.\n"
            "Спасибо,\n"
            "Анна"
        ),
    ),
    "Greek": (
        "Γεια σου, τι κάνεις;",
        (
            "Η συνάντηση μεταφέρθηκε για την Τρίτη στις δέκα το πρωί. "
            "Παρακαλώ επιβεβαιώστε τη συμμετοχή σας έως αύριο."
        ),
        (
            "Καλημέρα σε όλους,\n"
            "Σας επισυνάπτω τη μηνιαία αναφορά του τμήματος. Φέτος "
            "καταφέραμε να αυξήσουμε τις πωλήσεις κατά τριάντα τοις "
            "εκατό, κυρίως χάρη στους νέους πελάτες από τον βορρά. Την "
            "επόμενη εβδομάδα θα κάνουμε συνάντηση για να συζητήσουμε "
            "τον προϋπολογισμό του επόμενου έτους. Αν έχετε ερωτήσεις, "
            "στείλτε μου τις έως την Πέμπτη.\n"
            "Ευχαριστώ,\n"
            "Μαρία"
        ),
    ),
    "Turkish": (
        "Merhaba, nasılsın?",
        ("Toplantı salı sabah saat ona ertelendi. Lütfen katılımınızı yarına kadar onaylayın."),
        (
            "Herkese merhaba,\n"
            "Bölümün aylık raporunu ekte bulabilirsiniz. Bu yıl "
            "satışları yüzde otuz artırmayı başardık, bunu büyük ölçüde "
            "kuzeydeki yeni müşterilerimize borçluyuz. Gelecek hafta "
            "önümüzdeki yılın bütçesini ve işe alım planlarını görüşmek "
            "için bir ekip toplantısı yapacağız. Raporla ilgili "
            "sorularınız veya yorumlarınız varsa lütfen perşembeye kadar "
            "bana gönderin.\n"
            "Teşekkürler,\n"
            "Ayşe"
        ),
    ),
    "Polish": (
        "Cześć, co słychać?",
        (
            "Spotkanie zostało przełożone na wtorek na dziesiątą rano. "
            "Proszę potwierdzić udział do jutra."
        ),
        (
            "Dzień dobry wszystkim,\n"
            "W załączniku przesyłam miesięczny raport działu. W tym roku "
            "udało nam się zwiększyć sprzedaż o trzydzieści procent, "
            "głównie dzięki nowym klientom z północy. W przyszłym "
            "tygodniu odbędzie się spotkanie zespołu, na którym omówimy "
            "budżet na przyszły rok i plany rekrutacyjne. Jeśli macie "
            "pytania lub uwagi do raportu, proszę przesłać je do "
            "czwartku.\n"
            "Dziękuję,\n"
            "Kasia"
        ),
    ),
    "French": (
        "Ça va très bien",
        (
            "La réunion est reportée à mardi, dix heures du matin. Merci "
            "de confirmer votre présence avant demain."
        ),
        (
            "Bonjour à tous,\n"
            "Vous trouverez ci-joint le rapport mensuel du département. "
            "Cette année, nous avons réussi à augmenter les ventes de "
            "trente pour cent, surtout grâce aux nouveaux clients du "
            "nord. La semaine prochaine, nous tiendrons une réunion "
            "d'équipe pour discuter du budget de l'année à venir et des "
            "projets de recrutement. Si vous avez des questions ou des "
            "remarques, envoyez-les-moi avant jeudi.\n"
            "Merci,\n"
            "Hélène"
        ),
    ),
    "German": (
        "Grüße aus Köln",
        (
            "Das Treffen wurde auf Dienstag, zehn Uhr morgens, "
            "verschoben. Bitte bestätigen Sie Ihre Teilnahme bis morgen."
        ),
        (
            "Hallo zusammen,\n"
            "anbei der monatliche Bericht der Abteilung. In diesem Jahr "
            "konnten wir den Umsatz um dreißig Prozent steigern, vor "
            "allem dank der neuen Kunden aus dem Norden. Nächste Woche "
            "treffen wir uns, um das Budget für das kommende Jahr und "
            "die Einstellungspläne zu besprechen. Wenn Sie Fragen oder "
            "Anmerkungen zum Bericht haben, schicken Sie sie mir bitte "
            "bis Donnerstag.\n"
            "Viele Grüße,\n"
            "Jürgen"
        ),
    ),
    "Japanese": (
        "こんにちは、元気ですか？",
        "会議は火曜日の午前十時に延期されました。明日までに出席をご確認ください。",
        (
            "皆さん、こんにちは。\n"
            "部署の月次報告書を添付します。今年は主に北部の新しいお客様のおかげで、売上を三十パーセント伸ばすことができました。来週、来年度の予算と採用計画について話し合うためにチーム会議を開きます。報告書について質問やご意見があれば、木曜日までに私に送ってください。\n"
            "よろしくお願いします。\n"
            "花子"
        ),
    ),
    "Chinese (simplified)": (
        "你好，最近怎么样？",
        "会议推迟到星期二上午十点。请在明天之前确认您是否参加。",
        (
            "大家好，\n"
            "附件是部门的月度报告。今年我们的销售额增长了百分之三十，这主要归功于北方的新客户。下周我们将召开团队会议，讨论明年的预算和招聘计划。如果您对报告有任何问题或意见，请在星期四之前发给我。\n"
            "谢谢，\n"
            "小明"
        ),
    ),
    "Korean": (
        "안녕하세요, 잘 지내세요?",
        "회의가 화요일 오전 열 시로 연기되었습니다. 내일까지 참석 여부를 확인해 주세요.",
        (
            "여러분 안녕하세요,\n"
            "부서의 월간 보고서를 첨부합니다. 올해 우리는 주로 북부의 "
            "새로운 고객들 덕분에 매출을 삼십 퍼센트 늘릴 "
            "수 있었습니다. 다음 주에 내년 예산과 채용 계획을 논의하기 "
            "위해 팀 회의를 열 예정입니다. 보고서에 대한 "
            "질문이나 의견이 있으시면 목요일까지 저에게 보내 주세요.\n"
            "감사합니다,\n"
            "지은"
        ),
    ),
    "Chinese (traditional)": (
        "你好，最近怎麼樣？",
        "會議延期到星期二上午十點。請在明天之前確認您是否參加。",
        (
            "大家好，\n"
            "附件是部門的月度報告。今年我們的銷售額增長了百分之三十，這主要歸功於北方的新客戶。下週我們將召開團隊會議，討論明年的預算和招聘計劃。如果您對報告有任何問題或意見，請在星期四之前發給我。\n"
            "謝謝，\n"
            "小明"
        ),
    ),
}
CODECS: dict[str, tuple[str, ...]] = {
    "Hebrew": ("cp1255", "iso8859_8"),
    "Arabic": ("cp1256", "iso8859_6"),
    "Russian": ("cp1251", "koi8_r"),
    "Greek": ("cp1253",),
    "Turkish": ("cp1254",),
    "Polish": ("cp1250",),
    "French": ("latin_1",),
    "German": ("latin_1",),
    "Japanese": ("shift_jis",),
    "Chinese (simplified)": ("gb18030",),
    "Korean": ("euc_kr",),
    "Chinese (traditional)": ("big5",),
}

LENGTHS = ("short", "medium", "long")
# Too little to tell without a hint: "nasılsın" has two 8-bit bytes, and "nasýlsýn" is
# as plausible a reading to anyone who does not know the language.
NEEDS_A_HINT = {("Turkish", "short")}

CASES = [
    pytest.param(language, codec, length, text, id=f"{language}-{codec}-{length}")
    for language, texts in TEXTS.items()
    for codec in CODECS[language]
    for length, text in zip(LENGTHS, texts, strict=True)
    if (language, length) not in NEEDS_A_HINT
]


@pytest.mark.parametrize("label", [None, "us-ascii"])
@pytest.mark.parametrize(("language", "codec", "length", "text"), CASES)
def test_unlabelled_text_decodes_to_what_was_written(
    language: str, codec: str, length: str, text: str, label: str | None
) -> None:
    data = text.encode(codec)
    assert not data.isascii()
    assert decode_text(data, label) == text


def turkish_message(extra_header: str) -> bytes:
    """A text/plain part without a charset label; the header names the charset."""
    body = TEXTS["Turkish"][0].encode("cp1254")
    return (
        (
            f"From: a@example.org\r\n{extra_header}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + body
        + b"\r\n"
    )


def test_two_turkish_letters_need_a_hint_and_take_it() -> None:
    data = TEXTS["Turkish"][0].encode("cp1254")
    assert decode_text(data, None) != TEXTS["Turkish"][0]  # the ambiguity is real
    assert decode_text(data, None, hints=["windows-1254"]) == TEXTS["Turkish"][0]


@pytest.mark.parametrize(
    "header",
    [
        "Subject: =?windows-1254?Q?Toplant=FD?=",  # an RFC 2047 word in the subject
        "Content-Language: tr",  # RFC 3282
    ],
)
def test_the_message_names_the_charset_of_its_unlabelled_part(header: str) -> None:
    parsed = parse_message(turkish_message(header))
    assert parsed.body.text.strip() == TEXTS["Turkish"][0]


def test_a_hint_does_not_override_what_the_text_says() -> None:
    # A koi8-r label elsewhere in the message; this part is cp1251, and reads as such.
    for text in TEXTS["Russian"]:
        assert decode_text(text.encode("cp1251"), None, hints=["koi8-r"]) == text
    # A Hebrew hint on Arabic text: the Arabic reading still wins.
    for text in TEXTS["Arabic"]:
        assert decode_text(text.encode("cp1256"), None, hints=["windows-1255"]) == text


def test_unlabelled_hebrew_part_of_a_message_with_hebrew_headers() -> None:
    text = "תודה רבה"
    raw = (
        b"From: a@example.org\r\nSubject: =?iso-8859-8?B?+fzl7Q==?=\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text.encode("cp1255") + b"\r\n"
    )
    assert parse_message(raw).body.text.strip() == text


def test_charset_hints_come_from_words_parameters_and_languages() -> None:
    raw = (
        b"Subject: =?windows-1256?B?x8fH?= =?WINDOWS-1256?Q?=C7?=\r\n"
        b"Content-Language: he-IL, en\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=koi8-r\r\n\r\nx\r\n"
        b"--b\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\ny\r\n--b--\r\n"
    )
    hints = charset_hints(raw)
    assert hints[0] == "windows-1256"  # named twice: first
    assert set(hints) == {"windows-1256", "windows-1255", "iso-8859-8", "koi8-r"}
    assert charset_hints(b"Subject: plain\r\n\r\nbody") == ()
