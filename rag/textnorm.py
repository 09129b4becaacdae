"""Number words: one table for the answer writer and for the eval's judge.

Why shared: if the writer reads "three" as 3 and the judge does not (or the other way),
a right answer is scored wrong, or a number the writer never checked slips through.
"""

NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15",
                "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}
