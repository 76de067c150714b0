"""Chinese surnames: the Hundred Family Surnames (百家姓, 444 single and 60 compound), modern ones it
lacks (肖, 麦, 迟, 隋, 卿, ...: frequent today, 肖 in the commonest hundred), and traditional forms.
A language fact, not a list of people: the name detector asks "could a name start here?", and
context or jieba says whether one does."""

from __future__ import annotations

_BAIJIAXING = (
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎鲁韦昌马苗凤花方"
    "俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝明臧"
    "计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫"
    "经房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富巫乌焦巴弓"
    "牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙"
    "池乔阴鬱胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍卻璩桑桂濮牛寿通边扈燕冀郏浦尚农温别庄晏柴瞿阎充慕连茹习宦艾鱼容"
    "向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空曾毋沙乜养鞠须丰"
    "巢关蒯相查后荆红游竺权逯盖益桓公晋楚闫法汝鄢涂钦归海岳帅缑亢况郈有琴商牟佘佴伯赏墨哈谯笪年爱阳佟第言福"
)
_MODERN = "付仝覃冼谌么代佀禤练揭植银邸肖迟隋邝檀兰粟丛敬庹栗麦卿母原亓信初战郇区苟眭豆琚尉门"
_TRADITIONAL = (
    "陳張劉黃楊趙吳鄭謝許蘇葉蕭鍾羅賴馬孫閻盧譚陸韓馮鄧蔣賈夏韋鄒喬賀龔龐蘭顏嚴溫魯齊莊費紀項遊"
    "衛鮑單寧閔饒滕晉鄔臧暢來婁蓋黨連歐錢衞薛呂簡鍾龍萬於習廣聶雲孟倪湯遲麥門戰區塗"
)
COMPOUND = frozenset(
    "万俟 司马 上官 欧阳 夏侯 诸葛 闻人 东方 赫连 皇甫 尉迟 公羊 澹台 公冶 宗政 濮阳 "
    "淳于 单于 太叔 申屠 公孙 仲孙 轩辕 令狐 钟离 宇文 长孙 慕容 鲜于 闾丘 司徒 司空 "
    "亓官 司寇 仉督 子车 颛孙 端木 巫马 公西 漆雕 乐正 壤驷 公良 拓跋 夹谷 宰父 谷梁 "
    "段干 百里 东郭 南门 呼延 羊舌 微生 梁丘 左丘 东门 西门 南宫 第五 太史 歐陽 司馬 諸葛".split()
)
SINGLE = frozenset(_BAIJIAXING + _MODERN + _TRADITIONAL)


def surname_at(text: str, i: int) -> int:
    """Length of the surname that starts at ``text[i]`` (compound first), or 0."""
    if text[i : i + 2] in COMPOUND:
        return 2
    return 1 if text[i : i + 1] in SINGLE else 0
