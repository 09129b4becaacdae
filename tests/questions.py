"""Questions the seeds answer, on-topic ones they do not, and off-topic ones (used by several
test modules). None of these is in the dev set the answer scorer is fitted on."""

ANSWERABLE = [
    "How much did Microsoft invest in Anthropic?",
    "How much did Anthropic commit to spend on Azure?",
    "How much did Nvidia invest in Anthropic?",
    "How much is Google investing in Anthropic?",
    "When did Microsoft announce the Maia 200?",
    "What is the Maia 200 designed for?",
    "Which chips dominate AI model training?",
    "Why does Anthropic use several cloud providers?",
    "What did China do about Meta's acquisition of Manus?",
    "Are Microsoft and OpenAI still exclusive partners?",
    "What is Claude?",
    "How much additional capacity could Anthropic contract?",
    "What does custom silicon mean for cloud providers?",
    "Who is in court over OpenAI's future?",
    "What did Anthropic want to provide input into?",
    "What should enterprise customers watch?",
    "Who published the article about Anthropic's Microsoft deal?",
    "What is inference as opposed to training?",
    "Which company makes the H100 and H200 GPUs?",
    "Where will Claude models run in the Microsoft talks?",
    "What is the procurement angle of the deal?",
]

UNANSWERABLE = [
    "What is the price of a Maia 200 chip?",
    "How much did Apple invest in Anthropic?",
    "Who is the CEO of Samsung?",
    "What was Anthropic's revenue in 2019?",
    # Dario Amodei is named, never as CEO; only OpenAI's CEO is (the writer must not offer him)
    "Who is the CEO of Anthropic?",
]

# Questions from another field altogether: any corpus-agnostic refusal must catch these.
OFF_TOPIC = [
    "What is the boiling point of liquid nitrogen in kelvin?",
    "Who won the 1998 FIFA World Cup?",
    "How many legs does a spider have?",
]
